//! Stage 8, review: a reviewer agent (`[review] agent`, else the run's)
//! reads the run's whole diff in a worktree of the integration tip, with
//! the goal, the plan and every acceptance item, and the gates' results,
//! and answers in `review.json` at the top of its worktree: a verdict,
//! the changes it requests (file, line, severity, reason) and, per
//! acceptance item, whether the work addresses it. An answer orca cannot
//! read is sent back once with the reason. orca checks the plan's
//! adherence itself (every task done, the files touched against the files
//! declared, every acceptance item answered); requested changes at or
//! above `[review] threshold` become fix tasks, bounded like every gate's.
//! The answer is kept per integration tip: a resumed run does not ask
//! again for the same result.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use orca_store::{Stage, TaskState};
use serde::{Deserialize, Serialize};

use crate::checks;
use crate::error::EngineError;
use crate::events::RunEvent;
use crate::fix_tasks::{self, FixTask};
use crate::git_thread::on_git;
use crate::pipeline::Pipeline;
use crate::pipeline::transition::Outcome;
use crate::profiles::AgentProfiles;
use crate::stage_agent::{StageTurn, TurnEnd, take_turn};

const CHECKOUT: &str = "_review";
/// Where the reviewer writes its answer (in its worktree), and where orca
/// keeps it with the adherence checks (in the run's directory).
pub const REVIEW_JSON: &str = "review.json";
/// The most of the diff the prompt holds.
const MAX_DIFF_CHARS: usize = 60_000;

/// The reviewer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewAnswer {
    pub verdict: Verdict,
    #[serde(default)]
    pub changes: Vec<RequestedChange>,
    #[serde(default)]
    pub acceptance: Vec<AcceptanceCheck>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approve,
    Changes,
}

/// One change the reviewer asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedChange {
    pub file: String,
    #[serde(default)]
    pub line: Option<u64>,
    /// note, warning or error.
    pub severity: String,
    pub reason: String,
}

/// Whether the work addresses one acceptance item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptanceCheck {
    pub task: String,
    pub item: String,
    pub addressed: bool,
    #[serde(default)]
    pub note: Option<String>,
}

/// Why an answer cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("there is no {REVIEW_JSON} at the top of the worktree")]
    Missing,
    #[error("{REVIEW_JSON} is not the JSON asked for: {0}")]
    NotTheForm(#[from] serde_json::Error),
    #[error("change #{index} has severity `{severity}`; use note, warning or error")]
    UnknownSeverity { index: usize, severity: String },
    #[error("change #{index} names no file")]
    NoFile { index: usize },
    #[error("the verdict is \"changes\" but no change is listed")]
    NoChanges,
}

/// Reads and checks an answer.
pub fn parse_answer(text: &str) -> Result<ReviewAnswer, AnswerError> {
    let answer: ReviewAnswer = serde_json::from_str(text)?;
    for (at, change) in answer.changes.iter().enumerate() {
        if change.file.trim().is_empty() {
            return Err(AnswerError::NoFile { index: at + 1 });
        }
        if severity_rank(&change.severity).is_none() {
            return Err(AnswerError::UnknownSeverity {
                index: at + 1,
                severity: change.severity.clone(),
            });
        }
    }
    if answer.verdict == Verdict::Changes && answer.changes.is_empty() {
        return Err(AnswerError::NoChanges);
    }
    Ok(answer)
}

fn severity_rank(severity: &str) -> Option<usize> {
    orca_config::SEVERITIES.iter().position(|known| *known == severity)
}

/// What orca checks of the plan itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adherence {
    /// Tasks that did not succeed.
    pub unfinished: Vec<String>,
    /// Changed files no task declared.
    pub undeclared_files: Vec<String>,
    /// Acceptance items the reviewer did not answer (`task: item`).
    pub unanswered: Vec<String>,
    /// Acceptance items the reviewer found not met (`task: item`).
    pub not_met: Vec<String>,
}

/// What `review.json` in the run's directory holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Kept {
    /// The integration tip reviewed.
    commit: String,
    answer: ReviewAnswer,
    adherence: Adherence,
}

pub(crate) async fn run(p: &mut Pipeline) -> Result<Outcome, EngineError> {
    let tip = {
        let integration = p.integration();
        on_git(&p.ws.repo, move |repo| repo.rev_parse(&integration)).await?.to_string()
    };
    let kept_path = p.run_dir().join(REVIEW_JSON);
    let kept: Option<Kept> = std::fs::read_to_string(&kept_path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .filter(|kept: &Kept| kept.commit == tip);
    let answer = match kept {
        Some(kept) => kept.answer,
        None => match ask(p, &tip).await? {
            Asked::Answer(answer) => answer,
            Asked::Stop(outcome) => return Ok(outcome),
        },
    };
    let plan = crate::stages::parallel::stored_plan(&p.ws.store, &p.run).await?;
    let adherence = adherence(p, &plan, &answer, &tip).await?;
    let document = serde_json::to_string_pretty(&Kept {
        commit: tip.clone(),
        answer: answer.clone(),
        adherence: adherence.clone(),
    })
    .unwrap_or_default();
    std::fs::write(&kept_path, document).map_err(EngineError::io(&kept_path))?;

    let threshold = severity_rank(&p.ws.config.review.threshold).unwrap_or(2);
    let failing: Vec<&RequestedChange> = answer
        .changes
        .iter()
        .filter(|change| severity_rank(&change.severity).unwrap_or(0) >= threshold)
        .collect();
    p.emit(RunEvent::GateChecked {
        gate: Stage::Review,
        findings: answer.changes.len(),
        failing: failing.len(),
        suppressed: 0,
    });
    let mut facts = Vec::new();
    if !adherence.unfinished.is_empty() {
        facts.push(format!("{} task(s) not done", adherence.unfinished.len()));
    }
    if !adherence.undeclared_files.is_empty() {
        facts.push(format!(
            "{} file(s) changed that no task declared",
            adherence.undeclared_files.len()
        ));
    }
    if !adherence.not_met.is_empty() {
        facts.push(format!("{} acceptance item(s) not met", adherence.not_met.len()));
    }
    if !adherence.unanswered.is_empty() {
        facts.push(format!("{} acceptance item(s) unanswered", adherence.unanswered.len()));
    }
    let facts = if facts.is_empty() { String::new() } else { format!("; {}", facts.join(", ")) };
    if failing.is_empty() {
        let below = answer.changes.len();
        let verdict = if below == 0 {
            "approved".to_owned()
        } else {
            format!("approved with {below} suggestion(s) below {}", p.ws.config.review.threshold)
        };
        return Ok(Outcome::Passed { note: Some(format!("{verdict}{facts}; see review.json")) });
    }
    let note = format!(
        "{} requested change(s) at or above {}{facts}; see review.json",
        failing.len(),
        p.ws.config.review.threshold
    );
    let fixes = fix_tasks_for(&failing, &plan, &p.ws.config.roles.known);
    let added = match p.fix_round(Stage::Review).await? {
        Some(round) => fix_tasks::add(p, Stage::Review, round, fixes).await?,
        None => fixes.len(),
    };
    Ok(Outcome::FixTasks { added, note })
}

enum Asked {
    Answer(ReviewAnswer),
    Stop(Outcome),
}

/// Has the reviewer review `tip`: one turn, and one more with the reason
/// when its answer cannot be read.
async fn ask(p: &mut Pipeline, tip: &str) -> Result<Asked, EngineError> {
    let profiles = AgentProfiles::from_config(&p.ws.config, &p.ws.host)?;
    let config = &p.ws.config;
    let reviewer = profiles.for_role(
        &config.roles,
        "reviewer",
        config.review.agent.as_deref(),
        &p.default_agent(),
    )?;
    let worktree = checks::fresh_checkout(p, CHECKOUT).await?;
    // A directory per result reviewed: each gate round keeps its prompts.
    let stage_dir = p.run_dir().join("review").join(&tip[..tip.len().min(10)]);
    let prompt = reviewer_prompt(p, tip).await?;
    let mut session = None;
    let mut feedback: Option<String> = None;
    for turn in 1..=2 {
        let dir = stage_dir.join(format!("t{turn}"));
        std::fs::create_dir_all(&dir).map_err(EngineError::io(&dir))?;
        let text = match &feedback {
            Some(reason) => format!(
                "# Review: fix your answer\n\norca cannot use your `{REVIEW_JSON}`: {reason}\n\nWrite `{REVIEW_JSON}` again, in exactly the form asked for, and reply with a short summary.\n"
            ),
            None => prompt.clone(),
        };
        let _ = std::fs::write(dir.join("prompt.md"), &text);
        let turn_spec = StageTurn {
            profile: reviewer.clone(),
            label: "review",
            prompt: if feedback.is_some() && session.is_none() {
                format!("{prompt}\n{text}")
            } else {
                text
            },
            workdir: worktree.clone(),
            resume: session.clone(),
            isolation: stage_dir.join("isolated"),
            dir,
        };
        match take_turn(p, turn_spec).await {
            TurnEnd::Finished { outcome, session: started } => {
                session = started.or(session);
                if let orca_agents::Finish::Failed { kind, message } = &outcome.status {
                    return Ok(Asked::Stop(Outcome::Failed {
                        reason: format!(
                            "the reviewer `{}` failed ({kind}): {}",
                            reviewer.name,
                            crate::excerpt::shorten(message, 300)
                        ),
                    }));
                }
            }
            TurnEnd::Interrupted => return Ok(Asked::Stop(Outcome::Interrupted)),
            TurnEnd::CouldNotRun(reason) => {
                return Ok(Asked::Stop(Outcome::Failed {
                    reason: format!("the reviewer `{}` could not run: {reason}", reviewer.name),
                }));
            }
        }
        let read = match std::fs::read_to_string(worktree.join(REVIEW_JSON)) {
            Ok(text) => parse_answer(&text),
            Err(_) => Err(AnswerError::Missing),
        };
        match read {
            Ok(answer) => {
                checks::remove_checkout(p, &worktree, CHECKOUT).await?;
                return Ok(Asked::Answer(answer));
            }
            Err(error) => feedback = Some(error.to_string()),
        }
    }
    Ok(Asked::Stop(Outcome::Failed {
        reason: format!(
            "the reviewer's answer could not be read twice: {}; it is in {}",
            feedback.unwrap_or_default(),
            worktree.join(REVIEW_JSON).display()
        ),
    }))
}

/// The reviewer's brief: the goal, the plan with its acceptance items, the
/// gates' results, how to answer, and the diff.
async fn reviewer_prompt(p: &Pipeline, tip: &str) -> Result<String, EngineError> {
    let plan = crate::stages::parallel::stored_plan(&p.ws.store, &p.run).await?;
    let status = p.ws.store.run_status(&p.run).await?;
    let base = p.record.base.clone().ok_or(EngineError::NoCommit)?;
    let diff = {
        let (base, tip) = (base.clone(), tip.to_owned());
        on_git(&p.ws.repo, move |repo| repo.diff_text(&base, &tip)).await?
    };
    let mut out = String::new();
    let _ = writeln!(out, "# Review the run: {}\n", plan.title);
    out.push_str(
        "You are the reviewer of an orca run. Agents implemented the plan below, and their \
         merged work is the diff at the end; it is checked out in your working directory. \
         Review it as a demanding senior engineer would: correctness, security, error \
         handling, tests, and whether each task's acceptance items are met. Change no file \
         but your answer.\n",
    );
    if let Some(goal) = &p.record.goal {
        let _ = write!(out, "\n## The goal\n\n{goal}\n");
    }
    out.push_str("\n## The plan's tasks and acceptance items\n\n");
    for task in &plan.tasks {
        let files: Vec<&str> = task.files.iter().flatten().map(|f| f.as_str()).collect();
        let _ = writeln!(
            out,
            "### {}: {} (files: {})",
            task.id,
            task.title,
            if files.is_empty() { "none declared".to_owned() } else { files.join(", ") }
        );
        for item in &task.accept {
            let _ = writeln!(out, "- [ ] {item}");
        }
        out.push('\n');
    }
    out.push_str("## The gates so far\n\n");
    for stage in &status.stages {
        if matches!(stage.stage, Stage::Security | Stage::Test | Stage::Cleanup) {
            let _ = writeln!(
                out,
                "- {}: {}{}",
                stage.stage,
                stage.state,
                stage.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
            );
        }
    }
    let unused = super::cleanup::unused_for_review(&p.run_dir());
    if !unused.is_empty() {
        out.push_str(
            "\nThe cleanup gate found code the run added that nothing seems to use; suggest \
             removing what should go (a `note` or `warning` change):\n\n",
        );
        for item in &unused {
            let _ = writeln!(out, "- {}:{}: {} ({})", item.file, item.line, item.what, item.tool);
        }
    }
    let _ = write!(
        out,
        "\n## Your answer\n\nWrite `{REVIEW_JSON}` at the top of your working directory, holding \
         one JSON object:\n\n```json\n{{\n  \"verdict\": \"approve\",\n  \"changes\": [\n    {{\"file\": \"src/app.py\", \"line\": 12, \"severity\": \"error\", \"reason\": \"what is wrong and what to do\"}}\n  ],\n  \"acceptance\": [\n    {{\"task\": \"T1\", \"item\": \"the item's text as above\", \"addressed\": true, \"note\": \"where or why not\"}}\n  ]\n}}\n```\n\n\
         - `verdict`: `approve` when nothing must change, else `changes`.\n\
         - `changes`: each change you ask for; `severity` is `error` (must be fixed), \
         `warning` (should be fixed) or `note` (a suggestion).\n\
         - `acceptance`: one entry per acceptance item listed above, with its task and text.\n\n\
         Then reply with a one-line summary.\n"
    );
    let shown = if diff.len() > MAX_DIFF_CHARS {
        let mut cut = MAX_DIFF_CHARS;
        while !diff.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}\n… (the diff goes on; read the files in your working directory)", &diff[..cut])
    } else {
        diff
    };
    let _ = write!(
        out,
        "\n## The diff ({}..{})\n\n```diff\n{}\n```\n",
        &base[..base.len().min(10)],
        &tip[..tip.len().min(10)],
        shown.replace("```", "'''")
    );
    Ok(out)
}

/// orca's own checks of the plan against the result.
async fn adherence(
    p: &Pipeline,
    plan: &orca_plan::Plan,
    answer: &ReviewAnswer,
    tip: &str,
) -> Result<Adherence, EngineError> {
    let status = p.ws.store.run_status(&p.run).await?;
    let unfinished = status
        .tasks
        .iter()
        .filter(|task| task.state != TaskState::Succeeded)
        .map(|task| task.key.clone())
        .collect();
    let base = p.record.base.clone().ok_or(EngineError::NoCommit)?;
    let changed = {
        let tip = tip.to_owned();
        on_git(&p.ws.repo, move |repo| repo.changed_files(&base, &tip)).await?
    };
    let undeclared_files = changed
        .iter()
        .map(|change| change.path.clone())
        .filter(|path| {
            !plan.tasks.iter().any(|task| task.files.iter().flatten().any(|f| f.covers(path)))
        })
        .collect();
    let mut unanswered = Vec::new();
    let mut not_met = Vec::new();
    for task in &plan.tasks {
        for item in &task.accept {
            let id = task.id.to_string();
            let answered = answer
                .acceptance
                .iter()
                .find(|check| check.task == id && check.item.trim() == item.trim());
            match answered {
                None => unanswered.push(format!("{id}: {item}")),
                Some(check) if !check.addressed => not_met.push(format!("{id}: {item}")),
                Some(_) => {}
            }
        }
    }
    Ok(Adherence { unfinished, undeclared_files, unanswered, not_met })
}

/// One fix task per file with requested changes at or above the
/// threshold, for the role of the task that declared the file.
fn fix_tasks_for(
    changes: &[&RequestedChange],
    plan: &orca_plan::Plan,
    known_roles: &[String],
) -> Vec<FixTask> {
    let mut by_file: BTreeMap<&str, Vec<&RequestedChange>> = BTreeMap::new();
    for change in changes {
        by_file.entry(change.file.as_str()).or_default().push(change);
    }
    by_file
        .into_iter()
        .map(|(file, changes)| {
            let owner = plan
                .tasks
                .iter()
                .find(|task| task.files.iter().flatten().any(|pattern| pattern.covers(file)));
            let role = owner
                .map(|task| task.role.clone())
                .filter(|role| role != "review")
                .or_else(|| known_roles.first().cloned())
                .unwrap_or_else(|| "backend".to_owned());
            let mut description = format!(
                "orca's reviewer read this run's whole diff and asks for these changes in \
                 `{file}`. Make each one, and keep the tests passing:\n\n"
            );
            for change in &changes {
                let at = change.line.map(|line| format!("line {line}, ")).unwrap_or_default();
                let _ = writeln!(description, "- {at}{}: {}", change.severity, change.reason);
            }
            if let Some(owner) = owner {
                let _ = writeln!(
                    description,
                    "\nThe plan's task {} ({}) declared this file.",
                    owner.id, owner.title
                );
            }
            FixTask {
                title: format!("Address the review of {file}"),
                role,
                files: vec![file.to_owned()],
                description,
                verify: None,
                accept: changes.iter().map(|change| change.reason.clone()).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_in_the_form_asked_for_is_read() {
        let answer = parse_answer(
            r#"{"verdict": "changes", "changes": [{"file": "a.py", "line": 3, "severity": "error", "reason": "SQL built from input"}],
                "acceptance": [{"task": "T1", "item": "it works", "addressed": true}]}"#,
        )
        .unwrap();
        assert_eq!(answer.verdict, Verdict::Changes);
        assert_eq!(answer.changes[0].line, Some(3));
        assert!(answer.acceptance[0].addressed);
    }

    #[test]
    fn answers_that_cannot_be_used_say_why() {
        let reason = |text: &str| parse_answer(text).unwrap_err().to_string();
        assert!(reason("not json").contains("is not the JSON asked for"));
        assert!(reason(r#"{"verdict": "maybe"}"#).contains("is not the JSON asked for"));
        assert!(reason(r#"{"verdict": "changes"}"#).contains("no change is listed"));
        assert!(
            reason(r#"{"verdict": "changes", "changes": [{"file": "a", "severity": "fatal", "reason": "x"}]}"#)
                .contains("severity `fatal`")
        );
        assert!(
            reason(r#"{"verdict": "changes", "changes": [{"file": " ", "severity": "error", "reason": "x"}]}"#)
                .contains("names no file")
        );
    }
}
