//! `orca test`: the test gate's suites on the current checkout, in place:
//! `[test] commands`, else the suites the analysis finds. Each failing
//! test is named with its file and output; `--json` gives the totals and
//! every failure. Exit 1 when a test fails.

use orca_agents::CancelToken;
use orca_engine::stages::test::{TestReport, run_suites, suites, summarize};
use orca_workspace::Workspace;

use crate::command_error::workspace_failure;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct TestArgs {}

pub(crate) fn run(_args: &TestArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace = Workspace::discover(None).map_err(|e| workspace_failure(&e))?;
    let root = workspace.require_layout().map_err(|e| workspace_failure(&e))?.root().to_owned();
    let config = workspace.config().test.clone();
    let found = suites(&config.commands, None, &root);
    if found.is_empty() {
        return Err(Failure::usage("no test suite found in this repository").with_hint(
            "name the suites in .orca/config.toml: [test] commands = [[\"make\", \"check\"]]",
        ));
    }
    // The logs stay for reading after the command (the JSON names them).
    let logs = std::env::temp_dir().join(format!("orca-test-{}", std::process::id()));
    let runtime = crate::runtime::runtime()?;
    let runs = runtime.block_on(async {
        let cancel = CancelToken::new();
        let stopper = cancel.clone();
        let ctrl_c = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stopper.stop();
            }
        });
        let runs = run_suites(&found, &root, config.timeout, &logs, &cancel).await;
        ctrl_c.abort();
        runs
    });
    let runs = runs.map_err(|e| Failure::failed(format!("cannot write the suites' logs: {e}")))?;
    let interrupted = runs.iter().any(|run| run.interrupted);
    let report = summarize(runs, &[]);
    if out.is_json() {
        out.json(&report);
    } else {
        out.text(render(&report));
    }
    Ok(if interrupted {
        ExitCode::Interrupted
    } else if report.failed > 0 {
        ExitCode::Failure
    } else {
        ExitCode::Success
    })
}

fn render(report: &TestReport) -> String {
    let mut lines = Vec::new();
    for suite in &report.suites {
        lines.push(format!(
            "{} {}: {} passed, {} failed, {} skipped in {}",
            if suite.failed == 0 && suite.exited_ok { "✓" } else { "✗" },
            suite.command,
            suite.passed,
            suite.failed,
            suite.skipped,
            orca_agents::format_duration(std::time::Duration::from_millis(suite.duration_ms)),
        ));
    }
    for failure in &report.failures {
        let place = failure.file.as_deref().map(|f| format!(" ({f})")).unwrap_or_default();
        lines.push(format!("\nFAILED {}{place}", failure.name));
        for line in failure.output.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev() {
            lines.push(format!("    {line}"));
        }
    }
    lines.push(format!(
        "\n{} passed, {} failed, {} skipped",
        report.passed, report.failed, report.skipped
    ));
    lines.join("\n")
}
