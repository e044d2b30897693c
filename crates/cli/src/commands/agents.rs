//! `orca agents`: which agent CLIs are installed, at which versions, and
//! whether orca was tested with those versions.

use orca_agents::adapters::{BUILTIN_NAMES, builtin, program_variable};
use orca_agents::{HostEnv, ProgramProbe};

use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct AgentsArgs {}

pub(crate) fn run(_args: &AgentsArgs, out: &Output) -> Result<ExitCode, Failure> {
    let host = HostEnv::current();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    let probes: Vec<ProgramProbe> = runtime.block_on(async {
        let mut probes = Vec::new();
        for name in BUILTIN_NAMES {
            let adapter = builtin(name, &host).expect("every built-in name has an adapter");
            probes.push(orca_agents::probe(adapter.as_ref(), &host).await);
        }
        probes
    });

    if out.is_json() {
        let agents: Vec<serde_json::Value> = probes
            .iter()
            .map(|probe| {
                serde_json::json!({
                    "name": probe.adapter,
                    "installed": probe.installed(),
                    "program": probe.program,
                    "path": probe.path,
                    "version": probe.version,
                    // The version CI runs; `tested_versions` has the range.
                    "tested_version": probe.tested.map(|tested| tested.pinned),
                    "tested_versions": probe.tested,
                    "version_status": probe.installed().then(|| probe.version_status().as_str()),
                    "warning": probe.warning(),
                    "error": probe.error,
                })
            })
            .chain(std::iter::once(serde_json::json!({
                "name": "command",
                "installed": true,
                "program": null,
                "path": null,
                "version": null,
                "tested_version": null,
                "tested_versions": null,
                "version_status": null,
                "warning": null,
                "error": null,
            })))
            .collect();
        out.json(&serde_json::json!({ "agents": agents }));
        return Ok(ExitCode::Success);
    }

    let mut rows = vec![[
        "agent".to_string(),
        "installed".to_string(),
        "version".to_string(),
        "tested".to_string(),
        "program".to_string(),
    ]];
    for probe in &probes {
        let program = match &probe.path {
            Some(path) => path.display().to_string(),
            None => format!(
                "{} (not found; set {})",
                probe.program.display(),
                program_variable(&probe.adapter)
            ),
        };
        rows.push([
            probe.adapter.clone(),
            if probe.installed() { "yes" } else { "no" }.to_string(),
            probe.version.clone().unwrap_or_else(|| "-".into()),
            probe.tested.map_or_else(|| "-".to_string(), |tested| tested.describe()),
            program,
        ]);
    }
    rows.push([
        "command".into(),
        "-".into(),
        "-".into(),
        "-".into(),
        "any program: orca exec --agent command -- PROGRAM ARGS...".into(),
    ]);
    let widths: Vec<usize> = (0..4)
        .map(|col| rows.iter().map(|row| row[col].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = Vec::new();
    for row in &rows {
        let mut line = String::new();
        for (col, width) in widths.iter().enumerate() {
            line.push_str(&format!("{:<width$}  ", row[col]));
        }
        line.push_str(&row[4]);
        text.push(line);
    }
    for probe in &probes {
        if let Some(warning) = probe.warning() {
            text.push(format!("warning: {warning}"));
        }
        if let Some(error) = &probe.error {
            text.push(format!("warning: {error}"));
        }
    }
    out.text(text.join("\n"));
    Ok(ExitCode::Success)
}
