//! Stage 2, plan: the planner agent turns the goal (and the analysis)
//! into a plan in orca's format, in a worktree of the commit the run
//! started from. orca checks each plan exactly as `orca plan check` does
//! and sends every diagnostic back to the same agent session, for at most
//! `[plan] max_rounds` rounds. The accepted plan is kept with the run.
//!
//! Progress is recorded after each step (the agent finished a round, orca
//! checked it), so a resumed run neither repeats a finished round nor
//! runs the agent again for a plan it already wrote.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use orca_agents::Finish;
use orca_git::Repo;
use orca_plan::{PlanGraph, PlanOptions, PlanSource, RenderOptions, RenderStyle};

use crate::error::EngineError;
use crate::events::RunEvent;
use crate::excerpt::{error_chain, shorten};
use crate::git_thread::on_git;
use crate::pipeline::transition::Outcome;
use crate::pipeline::{Pipeline, PlanSummary};
use crate::process::{kill_marked, kill_recorded};
use crate::profiles::AgentProfiles;
use crate::prompt::{PlannerBrief, planner_feedback_prompt, planner_prompt};
use crate::stage_agent::{StageTurn, TurnEnd, take_turn};

/// Where the planner writes, relative to its worktree.
pub const PLAN_FILE: &str = "plan.md";

/// The planner's worktree and branch are named `_plan`: no task ID starts
/// with `_`, so they never meet a task's.
const PLANNER: &str = "_plan";

pub(crate) async fn run(p: &mut Pipeline) -> Result<Outcome, EngineError> {
    let Some(goal) = p.record.goal.clone() else {
        return Ok(Outcome::Skipped { reason: "the run was given its plan".into() });
    };
    let profiles = AgentProfiles::from_config(&p.ws.config, &p.ws.host)?;
    let config = &p.ws.config;
    let planner = profiles.for_role(
        &config.roles,
        "planner",
        config.plan.agent.as_deref(),
        &p.default_agent(),
    )?;
    let per_try = p.ws.config.plan.max_rounds.max(1);
    // Rounds all spent: the stage failed before and is run again (after
    // `orca resume`), so the planner gets as many rounds again.
    let spent = p.record.plan.rounds;
    let max_rounds = if spent >= per_try { spent + per_try } else { per_try };
    let stage_dir = p.run_dir().join("plan");
    // A planner a killed orca left running is stopped first.
    for round in 1..=max_rounds {
        kill_recorded(&stage_dir.join(format!("r{round}")).join("agent.pid"));
    }
    kill_marked(&stage_dir);
    let worktree = worktree_path(p);
    let branch = format!("{}{PLANNER}", orca_git::run_branch_prefix(p.run.as_str()));
    let roles = p.ws.config.roles.known.clone();
    let options = PlanOptions { roles: roles.clone() };
    if let Some(round) = p.record.plan.accepted {
        // Accepted before orca stopped: the saved plan is the run's plan.
        let saved = p.run_dir().join(PLAN_FILE);
        if let Some((text, plan, graph)) = check_written(&saved, &options, &profiles).accepted {
            return accept(p, &text, &plan, &graph, &worktree, &branch, round).await;
        }
        p.record.plan.accepted = None;
    }
    let base = p.record.base.clone().ok_or(EngineError::NoCommit)?;
    prepare_worktree(&p.ws.repo, &worktree, &branch, &base).await?;

    let analysis = std::fs::read_to_string(p.run_dir().join("analysis.md")).ok();
    let format = orca_plan::spec::format_spec(&roles);
    let agents: Vec<String> = profiles.names();

    while p.record.plan.rounds < max_rounds {
        let round = p.record.plan.rounds + 1;
        let round_dir = stage_dir.join(format!("r{round}"));
        std::fs::create_dir_all(&round_dir).map_err(EngineError::io(&round_dir))?;
        if p.record.plan.written != Some(round) {
            let prompt = match &p.record.plan.last_diagnostics {
                Some(diagnostics) if round > 1 => {
                    let feedback =
                        planner_feedback_prompt(PLAN_FILE, diagnostics, round, max_rounds);
                    if p.record.plan.session.is_some() {
                        feedback
                    } else {
                        // No session to continue: the whole brief, then what was wrong.
                        let brief = planner_prompt(&PlannerBrief {
                            goal: &goal,
                            analysis: analysis.as_deref(),
                            format: &format,
                            agents: &agents,
                            plan_file: PLAN_FILE,
                        });
                        format!("{brief}\n{feedback}")
                    }
                }
                _ => planner_prompt(&PlannerBrief {
                    goal: &goal,
                    analysis: analysis.as_deref(),
                    format: &format,
                    agents: &agents,
                    plan_file: PLAN_FILE,
                }),
            };
            let _ = std::fs::write(round_dir.join("prompt.md"), &prompt);
            let resume = if round > 1 { p.record.plan.session.clone() } else { None };
            let turn = StageTurn {
                profile: planner.clone(),
                label: "plan",
                prompt,
                workdir: worktree.clone(),
                resume,
                // One HOME for every round: the CLI keeps its sessions
                // there, and round 2 continues round 1's session.
                isolation: stage_dir.join("isolated"),
                dir: round_dir.clone(),
            };
            let (outcome, session) = match take_turn(p, turn).await {
                TurnEnd::Finished { outcome, session } => (outcome, session),
                TurnEnd::Interrupted => return Ok(Outcome::Interrupted),
                TurnEnd::CouldNotRun(reason) => {
                    return Ok(Outcome::Failed {
                        reason: format!("the planner `{}` could not run: {reason}", planner.name),
                    });
                }
            };
            if let Some(session) = session {
                p.record.plan.session = Some(session);
            }
            if let Finish::Failed { kind, message } = &outcome.status {
                return Ok(Outcome::Failed {
                    reason: format!(
                        "the planner `{}` failed ({kind}): {}",
                        planner.name,
                        shorten(message, 300)
                    ),
                });
            }
            p.record.plan.written = Some(round);
            p.save_record().await?;
        }

        let checked = check_written(&worktree.join(PLAN_FILE), &options, &profiles);
        p.record.plan.rounds = round;
        p.emit(RunEvent::PlanChecked {
            round,
            valid: checked.accepted.is_some(),
            errors: checked.errors,
            tasks: checked.tasks,
        });
        match checked.accepted {
            Some((text, plan, graph)) => {
                p.record.plan.last_diagnostics = None;
                p.save_record().await?;
                return accept(p, &text, &plan, &graph, &worktree, &branch, round).await;
            }
            None => {
                let _ = std::fs::write(round_dir.join("diagnostics.txt"), &checked.rendered);
                p.record.plan.last_diagnostics = Some(checked.rendered);
                p.save_record().await?;
            }
        }
    }
    let last = p.record.plan.last_diagnostics.clone().unwrap_or_default();
    Ok(Outcome::Failed {
        reason: format!(
            "the planner's plan was still invalid after {max_rounds} round(s) ([plan] max_rounds is {per_try}); \
             its last plan is in {} and orca's diagnostics were:\n{}",
            worktree.join(PLAN_FILE).display(),
            last.trim_end()
        ),
    })
}

/// `.orca/worktrees/<run>/_plan`
fn worktree_path(p: &Pipeline) -> PathBuf {
    orca_git::task_worktree_path(&p.ws.layout.worktrees_dir(), p.run.as_str(), PLANNER)
}

/// The planner's worktree at `base`: kept when it exists (a resumed run
/// continues in it), made otherwise.
async fn prepare_worktree(
    repo: &Arc<Repo>,
    worktree: &Path,
    branch: &str,
    base: &str,
) -> Result<(), EngineError> {
    if worktree.join(".git").exists() {
        return Ok(());
    }
    let (worktree, branch, base) = (worktree.to_owned(), branch.to_owned(), base.to_owned());
    on_git(repo, move |repo| -> Result<(), EngineError> {
        repo.remove_worktree(&worktree)?;
        if repo.branch_exists(&branch)? {
            repo.add_worktree_for_branch(&worktree, &branch)?;
        } else {
            repo.add_worktree(&worktree, &branch, &base)?;
        }
        Ok(())
    })
    .await
}

/// A plan the planner wrote, checked.
struct Checked {
    /// The text, plan and graph, when it passed.
    accepted: Option<(String, orca_plan::Plan, PlanGraph)>,
    /// Every diagnostic, as `orca plan check` prints them (plain text).
    rendered: String,
    errors: usize,
    tasks: usize,
}

/// Reads and checks the plan file as `orca plan check` would, plus what a
/// run needs beyond that: at least one task, and agents the config knows.
fn check_written(path: &Path, options: &PlanOptions, profiles: &AgentProfiles) -> Checked {
    let refused = |message: String| Checked {
        accepted: None,
        rendered: format!("error: {message}"),
        errors: 1,
        tasks: 0,
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return refused(format!(
                "there is no `{PLAN_FILE}` at the top of the worktree; write the plan there"
            ));
        }
        Err(error) => return refused(format!("cannot read `{PLAN_FILE}`: {error}")),
    };
    let text = match orca_plan::decode(&bytes) {
        Ok(text) => text.to_owned(),
        Err(error) => return refused(format!("`{PLAN_FILE}` cannot be read as a plan: {error}")),
    };
    let checked = orca_plan::check(&text, options);
    let mut rendered = PlanSource::new(PLAN_FILE, &text)
        .render(&checked.diagnostics, RenderOptions { style: RenderStyle::Plain, width: 100 });
    let mut errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
    let known = profiles.names();
    for task in &checked.plan.tasks {
        if let Some(agent) = &task.agent
            && !known.contains(agent)
        {
            errors += 1;
            rendered.push_str(&format!(
                "error: task {} names agent `{agent}`, which this repository does not configure \
                 (agents: {})\n",
                task.id,
                known.join(", ")
            ));
        }
    }
    let tasks = checked.plan.tasks.len();
    if errors == 0 && tasks == 0 {
        errors = 1;
        rendered.push_str("error: the plan has no tasks; a run needs at least one\n");
    }
    let accepted = match (errors, checked.graph) {
        (0, Some(graph)) => Some((text, checked.plan, graph)),
        _ => None,
    };
    Checked { accepted, rendered, errors, tasks }
}

/// Keeps the accepted plan with the run and clears the planner's worktree.
async fn accept(
    p: &mut Pipeline,
    text: &str,
    plan: &orca_plan::Plan,
    graph: &PlanGraph,
    worktree: &Path,
    branch: &str,
    round: u32,
) -> Result<Outcome, EngineError> {
    let copy = p.run_dir().join(PLAN_FILE);
    std::fs::write(&copy, text).map_err(EngineError::io(&copy))?;
    p.ws.store.set_plan_json(&p.run, &orca_plan::to_json(plan).to_string()).await?;
    if p.record.plan.accepted != Some(round) {
        p.record.plan.accepted = Some(round);
        p.save_record().await?;
    }
    let (worktree, branch) = (worktree.to_owned(), branch.to_owned());
    let cleared = on_git(&p.ws.repo, move |repo| -> Result<(), EngineError> {
        repo.remove_worktree(&worktree)?;
        repo.delete_branches_with_prefix(&branch)?;
        Ok(())
    })
    .await;
    if let Err(error) = cleared {
        tracing::warn!(error = %error_chain(&error), "cannot remove the planner's worktree");
    }
    let summary = PlanSummary::of(plan, graph, copy);
    let note = format!(
        "\"{}\": {} task(s), {} wave(s), accepted in round {round}",
        summary.title, summary.tasks, summary.waves
    );
    p.plan_summary = Some(summary);
    Ok(Outcome::Passed { note: Some(note) })
}
