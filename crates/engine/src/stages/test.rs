//! Stage 6, test: the repository's test suites (`[test] commands`, else
//! those the analyze stage found) run on the integration branch's tip in a
//! worktree of their own, each with a time limit, their results read test
//! by test (orca-suites). A test that already failed at the run's base is
//! reported as such and does not count against the run. Each file's
//! failing tests become a fix task holding their output, routed to the
//! plan tasks that declared that file; `test.json` in the run's directory
//! holds the totals and every failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use orca_agents::CancelToken;
use orca_analyze::{Analysis, CommandKind};
use orca_store::Stage;
use orca_suites::{Suite, SuiteResult, TestFailure};
use serde::{Deserialize, Serialize};

use crate::checks;
use crate::error::EngineError;
use crate::events::RunEvent;
use crate::fix_tasks::{self, FixTask};
use crate::pipeline::Pipeline;
use crate::pipeline::transition::Outcome;
use crate::verify::{VerifyStatus, run_verify};

const CHECKOUT: &str = "_test";
const BASE_CHECKOUT: &str = "_test_base";
/// What the gate writes into the run's directory.
pub const TEST_JSON: &str = "test.json";
/// The failing tests of the run's base, kept so that later rounds need
/// not run the base again.
const BASE_JSON: &str = "test/base.json";

/// The suites of the checkout at `root`: `configured` when any (run at
/// the top), else the test commands `analysis` found, else those found
/// in `root` now.
pub fn suites(configured: &[Vec<String>], analysis: Option<&Analysis>, root: &Path) -> Vec<Suite> {
    if !configured.is_empty() {
        return configured
            .iter()
            .filter(|argv| !argv.is_empty())
            .map(|argv| Suite::new(argv.clone(), ""))
            .collect();
    }
    let found = match analysis {
        Some(analysis) if !analysis.commands.is_empty() => analysis.commands.clone(),
        _ => orca_analyze::detect_commands(root),
    };
    found
        .into_iter()
        .filter(|command| command.kind == CommandKind::Test)
        .map(|command| Suite::new(command.argv, command.dir))
        .collect()
}

/// One run of one suite.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuiteRun {
    pub command: String,
    /// Whether it exited 0.
    pub exited_ok: bool,
    /// How it ended, in one line.
    pub summary: String,
    pub duration_ms: u64,
    pub log: PathBuf,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    #[serde(skip)]
    pub failures: Vec<TestFailure>,
    #[serde(skip)]
    pub interrupted: bool,
}

/// Runs `suites` in `worktree` one after another, each within `timeout`,
/// logs and JUnit reports in `dir`; stops when `cancel` asks.
pub async fn run_suites(
    suites: &[Suite],
    worktree: &Path,
    timeout: Duration,
    dir: &Path,
    cancel: &CancelToken,
) -> Result<Vec<SuiteRun>, std::io::Error> {
    std::fs::create_dir_all(dir)?;
    let mut runs = Vec::new();
    for (at, suite) in suites.iter().enumerate() {
        let log = dir.join(format!("{}.log", at + 1));
        let junit = dir.join(format!("{}.junit.xml", at + 1));
        let _ = std::fs::remove_file(&junit);
        let argv = suite.invocation(&junit);
        let report =
            run_verify(&argv, &worktree.join(&suite.dir), timeout, &log, cancel, |_| {}).await;
        let output = std::fs::read_to_string(&log).unwrap_or_else(|_| report.output.clone());
        let junit = std::fs::read_to_string(&junit).ok();
        let result: SuiteResult = suite.read(&output, junit.as_deref(), report.passed(), worktree);
        let interrupted = report.status == VerifyStatus::Interrupted;
        runs.push(SuiteRun {
            command: suite.display(),
            exited_ok: report.passed(),
            summary: report.describe(&suite.display()),
            duration_ms: u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
            log,
            passed: result.passed,
            failed: result.failed,
            skipped: result.skipped,
            failures: result.failures,
            interrupted,
        });
        if interrupted {
            break;
        }
    }
    Ok(runs)
}

/// One failing test as the gate reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub name: String,
    pub file: Option<String>,
    pub output: String,
    /// The suite it belongs to.
    pub suite: String,
}

/// What `test.json` (and `orca test --json`) holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestReport {
    pub passed: usize,
    /// Failing tests that count: not failing at the run's base.
    pub failed: usize,
    pub skipped: usize,
    pub failures: Vec<Failure>,
    /// Tests that fail here and already failed at the run's base.
    pub already_failing: Vec<Failure>,
    pub suites: Vec<SuiteRun>,
}

/// The totals of `runs`; failures named in `baseline` (failing at the
/// run's base) are set apart.
pub fn summarize(runs: Vec<SuiteRun>, baseline: &[String]) -> TestReport {
    let mut report = TestReport {
        passed: runs.iter().map(|r| r.passed).sum(),
        failed: 0,
        skipped: runs.iter().map(|r| r.skipped).sum(),
        failures: Vec::new(),
        already_failing: Vec::new(),
        suites: Vec::new(),
    };
    for run in &runs {
        for failure in &run.failures {
            let failure = Failure {
                name: failure.name.clone(),
                file: failure.file.clone(),
                output: failure.output.clone(),
                suite: run.command.clone(),
            };
            if baseline.contains(&failure.name) {
                report.already_failing.push(failure);
            } else {
                report.failures.push(failure);
            }
        }
    }
    report.failed = report.failures.len();
    report.suites = runs;
    report
}

/// The names of the failing tests of `runs`.
fn failing_names(runs: &[SuiteRun]) -> Vec<String> {
    runs.iter().flat_map(|run| run.failures.iter().map(|f| f.name.clone())).collect()
}

/// Whether a failed run of `check` (its output in `log`) failed only by
/// tests that already failed at the run's base, as the test gate
/// recorded them; how many when so.
pub(crate) fn only_already_failing(
    p: &Pipeline,
    check: &checks::Check,
    log: &Path,
    worktree: &Path,
) -> Option<usize> {
    let base = p.record.base.as_deref()?;
    let known: Baseline =
        serde_json::from_str(&std::fs::read_to_string(p.run_dir().join(BASE_JSON)).ok()?).ok()?;
    if known.commit != base {
        return None;
    }
    let suite = Suite::new(check.argv.clone(), check.dir.clone());
    let output = std::fs::read_to_string(log).ok()?;
    let result = suite.read(&output, None, false, worktree);
    let all_known = result.parsed
        && !result.failures.is_empty()
        && result.failures.iter().all(|failure| known.failing.contains(&failure.name));
    all_known.then_some(result.failures.len())
}

#[derive(Serialize, Deserialize)]
struct Baseline {
    commit: String,
    failing: Vec<String>,
}

pub(crate) async fn run(p: &mut Pipeline) -> Result<Outcome, EngineError> {
    let worktree = checks::fresh_checkout(p, CHECKOUT).await?;
    let analysis = super::analyze::stored(&p.run_dir());
    let config = p.ws.config.test.clone();
    let suites = suites(&config.commands, analysis.as_ref(), &worktree);
    if suites.is_empty() {
        checks::remove_checkout(p, &worktree, CHECKOUT).await?;
        return Ok(Outcome::Skipped {
            reason: "no test suite found (set [test] commands)".to_owned(),
        });
    }
    let dir = p.run_dir().join("test");
    let Some(runs) = run_watched(p, &suites, &worktree, config.timeout, &dir).await? else {
        return Ok(Outcome::Interrupted);
    };
    for run in &runs {
        p.emit(RunEvent::CheckFinished {
            command: run.command.clone(),
            passed: run.exited_ok,
            summary: format!(
                "{}: {} passed, {} failed, {} skipped",
                run.command, run.passed, run.failed, run.skipped
            ),
        });
    }
    let baseline = if failing_names(&runs).is_empty() {
        Vec::new()
    } else {
        match baseline(p, &suites, config.timeout).await? {
            Some(names) => names,
            None => return Ok(Outcome::Interrupted),
        }
    };
    let report = summarize(runs, &baseline);
    let json = p.run_dir().join(TEST_JSON);
    let document = serde_json::to_string_pretty(&report).unwrap_or_default();
    std::fs::write(&json, document).map_err(EngineError::io(&json))?;
    p.emit(RunEvent::GateChecked {
        gate: Stage::Test,
        findings: report.failures.len() + report.already_failing.len(),
        failing: report.failures.len(),
        suppressed: report.already_failing.len(),
    });
    let already = if report.already_failing.is_empty() {
        String::new()
    } else {
        format!("; {} already failing at the run's base, not counted", report.already_failing.len())
    };
    if report.failures.is_empty() {
        checks::remove_checkout(p, &worktree, CHECKOUT).await?;
        return Ok(Outcome::Passed {
            note: Some(format!(
                "{} passed, {} skipped{already}; see test.json",
                report.passed, report.skipped
            )),
        });
    }
    let note = format!(
        "{} failing test(s), {} passed{already}; see test.json",
        report.failures.len(),
        report.passed
    );
    let plan = crate::stages::parallel::stored_plan(&p.ws.store, &p.run).await?;
    let fixes = fix_tasks_for(&report.failures, &suites, &plan);
    let added = match p.fix_round(Stage::Test).await? {
        Some(round) => fix_tasks::add(p, Stage::Test, round, fixes).await?,
        None => fixes.len(),
    };
    Ok(Outcome::FixTasks { added, note })
}

/// Runs the suites with the user's interrupts mapped to stop/kill;
/// `None` when interrupted.
async fn run_watched(
    p: &Pipeline,
    suites: &[Suite],
    worktree: &Path,
    timeout: Duration,
    dir: &Path,
) -> Result<Option<Vec<SuiteRun>>, EngineError> {
    let cancel = CancelToken::new();
    let mut interrupts = p.interrupts.clone();
    let running = run_suites(suites, worktree, timeout, dir, &cancel);
    tokio::pin!(running);
    let runs = loop {
        tokio::select! {
            runs = &mut running => break runs.map_err(EngineError::io(dir))?,
            count = interrupts.next() => {
                if count <= 1 { cancel.stop() } else { cancel.kill() }
            }
        }
    };
    Ok((!runs.iter().any(|run| run.interrupted)).then_some(runs))
}

/// The tests failing at the run's base (run once per base, then read
/// from the run's directory); `None` when interrupted.
async fn baseline(
    p: &Pipeline,
    suites: &[Suite],
    timeout: Duration,
) -> Result<Option<Vec<String>>, EngineError> {
    let base = p.record.base.clone().ok_or(EngineError::NoCommit)?;
    let saved = p.run_dir().join(BASE_JSON);
    if let Some(known) = std::fs::read_to_string(&saved)
        .ok()
        .and_then(|text| serde_json::from_str::<Baseline>(&text).ok())
        .filter(|known| known.commit == base)
    {
        return Ok(Some(known.failing));
    }
    let worktree = checks::fresh_checkout_of(p, BASE_CHECKOUT, &base).await?;
    let dir = p.run_dir().join("test/base");
    let Some(runs) = run_watched(p, suites, &worktree, timeout, &dir).await? else {
        return Ok(None);
    };
    checks::remove_checkout(p, &worktree, BASE_CHECKOUT).await?;
    let failing = failing_names(&runs);
    let document = serde_json::to_string(&Baseline { commit: base, failing: failing.clone() })
        .unwrap_or_default();
    std::fs::write(&saved, document).map_err(EngineError::io(&saved))?;
    Ok(Some(failing))
}

/// One fix task per file with failing tests (per suite when the file is
/// not known): the failures' output, the plan tasks that declared the
/// file, and a `verify` that runs those tests again.
fn fix_tasks_for(failures: &[Failure], suites: &[Suite], plan: &orca_plan::Plan) -> Vec<FixTask> {
    let mut by_place: BTreeMap<(String, Option<String>), Vec<&Failure>> = BTreeMap::new();
    for failure in failures {
        by_place.entry((failure.suite.clone(), failure.file.clone())).or_default().push(failure);
    }
    by_place
        .into_iter()
        .map(|((suite_name, file), failures)| {
            let suite = suites.iter().find(|s| s.display() == suite_name);
            let where_ = file.clone().unwrap_or_else(|| format!("`{suite_name}`"));
            let writers: Vec<&orca_plan::Task> = match &file {
                Some(file) => plan
                    .tasks
                    .iter()
                    .filter(|task| task.files.iter().flatten().any(|pattern| pattern.covers(file)))
                    .collect(),
                None => Vec::new(),
            };
            let mut description = format!(
                "orca's test gate ran `{suite_name}` on the run's result, and these tests fail in \
                 {where_}. They passed (or did not exist) before this run, so this run broke them: \
                 find the cause and fix it. Fix the code unless the test itself is wrong; never \
                 delete or skip a test to make it pass.\n\n"
            );
            for failure in &failures {
                description.push_str(&format!(
                    "### {}\n\n```text\n{}\n```\n\n",
                    failure.name,
                    failure.output.replace("```", "'''")
                ));
            }
            if !writers.is_empty() {
                let names: Vec<String> =
                    writers.iter().map(|task| format!("{} ({})", task.id, task.title)).collect();
                description.push_str(&format!(
                    "The plan's task(s) {} declared this file.\n",
                    names.join(", ")
                ));
            }
            let mut files: Vec<String> = file.iter().cloned().collect();
            for task in &writers {
                for pattern in task.files.iter().flatten() {
                    if !files.iter().any(|f| f == pattern.as_str()) {
                        files.push(pattern.as_str().to_owned());
                    }
                }
            }
            let verify = suite.map(|suite| {
                let argv = if failures.len() == 1 {
                    suite.single(&TestFailure {
                        name: failures[0].name.clone(),
                        file: failures[0].file.clone(),
                        output: String::new(),
                    })
                } else {
                    suite.argv.clone()
                };
                in_dir(&suite.dir, argv)
            });
            FixTask {
                title: match &file {
                    Some(file) => format!("Make the failing tests in {file} pass"),
                    None => format!("Make `{suite_name}` pass"),
                },
                role: "test".to_owned(),
                files,
                description,
                verify,
                accept: failures.iter().map(|f| format!("{} passes", f.name)).collect(),
            }
        })
        .collect()
}

/// `argv` run from `dir` (a verify runs at the worktree's top).
fn in_dir(dir: &str, argv: Vec<String>) -> Vec<String> {
    if dir.is_empty() {
        return argv;
    }
    let quoted: Vec<String> = argv.iter().map(|word| orca_suites::shell_quote(word)).collect();
    vec![
        "sh".into(),
        "-c".into(),
        format!("cd {} && {}", orca_suites::shell_quote(dir), quoted.join(" ")),
    ]
}
