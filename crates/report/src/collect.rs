//! Reading a run's report out of the store.

use std::collections::HashMap;
use std::path::Path;

use orca_store::{AttemptRecord, RunId, Stage, Store, StoreError};

use crate::model::{
    AttemptReport, GateCheck, GateReport, MergeReport, ReportData, RunInfo, StageReport,
    TaskReport, Totals, ValidationCheck,
};

/// The gates, and the files they write into the run's directory.
const GATES: [(Stage, &[&str]); 4] = [
    (Stage::Security, &["security.sarif", "security.json"]),
    (Stage::Test, &["test.json"]),
    (Stage::Cleanup, &["cleanup.json"]),
    (Stage::Review, &["review.json"]),
];

/// Everything the store holds about `run`; `run_dir` is its directory
/// (`.orca/runs/<run>/`), where the gates' files are looked for.
pub async fn collect(store: &Store, run: &RunId, run_dir: &Path) -> Result<ReportData, StoreError> {
    let status = store.run_status(run).await?;
    let plan_json = store.plan_json(run).await?;
    let pipeline: serde_json::Value = store
        .pipeline_json(run)
        .await?
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default();
    let plan = orca_plan::import::from_json(&plan_json).ok().map(|imported| imported.plan);
    let every = store.run_attempts(run).await?;
    let latest = store.latest_agent_events(run).await?;
    let usage =
        crate::UsageTotals::of_attempts(every.iter().map(|(task, a)| (task.as_str(), a)), &latest);
    let mut attempts: HashMap<String, Vec<AttemptRecord>> = HashMap::new();
    for (task, attempt) in every {
        attempts.entry(task).or_default().push(attempt);
    }

    let states: HashMap<&str, &orca_store::TaskStatus> =
        status.tasks.iter().map(|t| (t.key.as_str(), t)).collect();
    // Plan order; tasks the store holds beyond the plan (none, normally) last.
    let mut order: Vec<String> = plan
        .as_ref()
        .map(|plan| plan.tasks.iter().map(|t| t.id.to_string()).collect())
        .unwrap_or_default();
    for task in &status.tasks {
        if !order.contains(&task.key) {
            order.push(task.key.clone());
        }
    }
    let planned: HashMap<String, &orca_plan::Task> = plan
        .as_ref()
        .map(|plan| plan.tasks.iter().map(|t| (t.id.to_string(), t)).collect())
        .unwrap_or_default();
    let tasks: Vec<TaskReport> = order
        .iter()
        .filter_map(|key| {
            let state = states.get(key.as_str())?;
            let task = planned.get(key);
            Some(TaskReport {
                id: key.clone(),
                title: task.map(|t| t.title.clone()).unwrap_or_default(),
                role: task.map(|t| t.role.clone()).unwrap_or_default(),
                agent: task.and_then(|t| t.agent.clone()),
                deps: state.deps.clone(),
                files: task
                    .and_then(|t| t.files.as_ref())
                    .map(|files| files.iter().map(ToString::to_string).collect())
                    .unwrap_or_default(),
                verify: task.and_then(|t| t.verify.as_ref()).map(|v| v.command().to_owned()),
                state: state.state.to_string(),
                fix_of: fix_of(key),
                attempts: attempts.remove(key).unwrap_or_default().iter().map(attempt).collect(),
                merge: state.result_json.as_deref().and_then(merge_of),
                last_error: state.last_error.clone(),
                blocked_reason: state.blocked_reason.clone(),
            })
        })
        .collect();

    let stages: Vec<StageReport> = status
        .stages
        .iter()
        .map(|stage| StageReport {
            stage: stage.stage.to_string(),
            state: stage.state.to_string(),
            started_ms: stage.started_ms,
            finished_ms: stage.finished_ms,
            duration_ms: match (stage.started_ms, stage.finished_ms) {
                (Some(start), Some(end)) => Some(end - start),
                _ => None,
            },
            note: stage.note.clone(),
            rounds: stage.rounds,
        })
        .collect();
    let gates = GATES
        .iter()
        .map(|(gate, files)| {
            let stage = status.stages.iter().find(|s| s.stage == *gate);
            GateReport {
                gate: gate.to_string(),
                state: stage.map_or("pending".to_owned(), |s| s.state.to_string()),
                rounds: stage.map_or(0, |s| s.rounds),
                note: stage.and_then(|s| s.note.clone()),
                fix_tasks: tasks
                    .iter()
                    .filter(|t| t.fix_of.as_deref() == Some(gate.as_str()))
                    .map(|t| t.id.clone())
                    .collect(),
                files: files
                    .iter()
                    .filter(|file| run_dir.join(file).is_file())
                    .map(|file| (*file).to_owned())
                    .collect(),
                checks: gate_checks(run_dir, *gate),
            }
        })
        .collect();

    let mut by_state: Vec<(String, usize)> = Vec::new();
    for task in &tasks {
        match by_state.iter_mut().find(|(state, _)| *state == task.state) {
            Some((_, n)) => *n += 1,
            None => by_state.push((task.state.clone(), 1)),
        }
    }
    let every_attempt = || tasks.iter().flat_map(|t| t.attempts.iter());
    let totals = Totals {
        tasks: tasks.len(),
        by_state,
        attempts: every_attempt().count(),
        input_tokens: every_attempt().map(|a| a.input_tokens).sum(),
        output_tokens: every_attempt().map(|a| a.output_tokens).sum(),
        cost_usd: every_attempt().filter_map(|a| a.cost_usd).sum(),
        wall_ms: status.run.updated_ms - status.run.created_ms,
        agent_ms: every_attempt().filter_map(|a| a.duration_ms).sum(),
        by_agent: usage.agents,
    };
    let validation = validation(run_dir);
    Ok(ReportData {
        run: RunInfo {
            id: status.run.id.to_string(),
            title: status.run.title.clone(),
            goal: pipeline["goal"].as_str().map(str::to_owned),
            state: status.run.state.to_string(),
            mode: status.run.mode.clone(),
            created_ms: status.run.created_ms,
            updated_ms: status.run.updated_ms,
            base: pipeline["base"].as_str().map(str::to_owned),
            integration_branch: format!("orca/{}/integration", status.run.id),
            checkout: status.run.repo.as_ref().map(|repo| repo.checkout.clone()),
        },
        stages,
        tasks,
        gates,
        validation,
        totals,
    })
}

/// `fix-security-1-2` fixes what the security gate found.
fn fix_of(task: &str) -> Option<String> {
    let rest = task.strip_prefix("fix-")?;
    let gate = rest.split('-').next()?;
    GATES.iter().any(|(stage, _)| stage.as_str() == gate).then(|| gate.to_owned())
}

fn attempt(record: &AttemptRecord) -> AttemptReport {
    let details: serde_json::Value = record
        .details_json
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    let end = details["end"].as_str().map(str::to_owned);
    AttemptReport {
        attempt: record.attempt,
        agent: record.agent.clone(),
        worker: record.worker.clone(),
        started_ms: record.started_ms,
        ended_ms: record.ended_ms,
        duration_ms: record.ended_ms.map(|end| end - record.started_ms),
        outcome: record.outcome.clone(),
        verify_passed: match end.as_deref() {
            Some("verified") => Some(true),
            Some("failed") if details["verify_output"].is_string() => Some(false),
            _ => None,
        },
        end,
        error: record.error.clone(),
        branch: record.branch.clone(),
        commit: record.commit_sha.clone(),
        session: record.agent_session_id.clone(),
        input_tokens: details["input_tokens"].as_u64().unwrap_or(0),
        output_tokens: details["output_tokens"].as_u64().unwrap_or(0),
        cost_usd: details["cost_usd"].as_f64(),
        verify_output: details["verify_output"].as_str().map(str::to_owned),
        summary: record.summary.clone(),
    }
}

fn merge_of(result_json: &str) -> Option<MergeReport> {
    let result: serde_json::Value = serde_json::from_str(result_json).ok()?;
    Some(MergeReport {
        commit: result["merge_commit"].as_str()?.to_owned(),
        resolved_conflict: result["resolved_conflict"].as_bool().unwrap_or(false),
    })
}

/// The checks `complete.json` lists (none before the complete stage ran).
fn validation(run_dir: &Path) -> Vec<ValidationCheck> {
    #[derive(serde::Deserialize)]
    struct Validation {
        checks: Vec<ValidationCheck>,
    }
    std::fs::read_to_string(run_dir.join("complete.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Validation>(&text).ok())
        .map(|v| v.checks)
        .unwrap_or_default()
}

/// The checks `gates.jsonl` holds for `gate`, in order.
pub fn gate_checks(run_dir: &Path, gate: Stage) -> Vec<GateCheck> {
    let Ok(text) = std::fs::read_to_string(run_dir.join(crate::GATE_CHECKS)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|check| check["gate"] == gate.to_string())
        .map(|check| GateCheck {
            findings: check["findings"].as_u64().unwrap_or(0) as usize,
            failing: check["failing"].as_u64().unwrap_or(0) as usize,
        })
        .collect()
}

/// `2 → 1 → 0`: a gate's failing findings at each check.
pub fn before_after(checks: &[GateCheck]) -> String {
    checks.iter().map(|check| check.failing.to_string()).collect::<Vec<_>>().join(" → ")
}
