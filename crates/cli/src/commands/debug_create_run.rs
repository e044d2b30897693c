//! `orca debug-create-run` (hidden, for tests and benchmarks): loads a
//! random DAG of sleeping tasks into a store.

use std::time::Instant;

use orca_store::{NewRun, NewTask, Store};

use crate::command_error::{open_failure, store_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct DebugCreateRunArgs {
    /// The store URL.
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
    /// How many tasks.
    #[arg(long, default_value_t = 100)]
    tasks: usize,
    /// Each task depends on up to this many earlier tasks.
    #[arg(long, default_value_t = 3)]
    max_deps: usize,
    /// Tries per task.
    #[arg(long, default_value_t = 20)]
    max_attempts: i64,
    /// Seed for the random graph (default: random).
    #[arg(long)]
    seed: Option<u64>,
}

pub(crate) fn run(args: &DebugCreateRunArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace = orca_workspace::Workspace::discover(args.store.as_deref())
        .map_err(|e| crate::command_error::workspace_failure(&e))?;
    if let Some(layout) = workspace.layout().filter(|_| workspace.store_is_default()) {
        layout.ensure().map_err(|e| Failure::usage(crate::command_error::describe(&e)))?;
    }
    let url = workspace.store_url().to_owned();
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    let tasks = random_dag(args.tasks, args.max_deps, args.max_attempts, seed);
    let (id, elapsed) = crate::runtime::runtime()?.block_on(async {
        let store = Store::open(&url).await.map_err(|e| open_failure(&e))?;
        let started = Instant::now();
        let run = NewRun {
            title: format!("random DAG of {} tasks (seed {seed})", args.tasks),
            plan_path: None,
            plan_json: serde_json::json!({ "seed": seed, "tasks": args.tasks }).to_string(),
            mode: "debug".to_owned(),
            tasks,
            ..NewRun::default()
        };
        let id = store.create_run(&run).await.map_err(|e| store_failure(&e));
        let elapsed = started.elapsed();
        store.close().await;
        Ok::<_, Failure>((id?, elapsed))
    })?;
    if out.is_json() {
        out.json(&serde_json::json!({
            "run": id,
            "tasks": args.tasks,
            "seed": seed,
            "load_ms": elapsed.as_secs_f64() * 1000.0,
        }));
    } else {
        out.text(id.to_string());
    }
    Ok(ExitCode::Success)
}

/// Task `tNNNNN` depends on up to `max_deps` random earlier tasks; the
/// priority is random so dispatch order is exercised.
fn random_dag(n: usize, max_deps: usize, max_attempts: i64, seed: u64) -> Vec<NewTask> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|i| {
            let deps = if i == 0 {
                Vec::new()
            } else {
                (0..rng.usize(0..=max_deps)).map(|_| format!("t{:05}", rng.usize(0..i))).collect()
            };
            NewTask {
                key: format!("t{i:05}"),
                deps,
                priority: rng.i64(0..100),
                max_attempts,
                spec_json: "{}".to_owned(),
                done: false,
            }
        })
        .collect()
}
