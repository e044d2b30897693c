//! One turn of a stage's own agent (the planner, the reviewer): started
//! under supervision in a worktree, its tool use shown as activity, the
//! user's interrupts passed on (the first stops it, the next kills it).

use std::path::PathBuf;

use orca_agents::{AgentEvent, AgentOutcome, CancelToken};

use crate::agent_start::{AgentStart, start_agent};
use crate::events::{RunEvent, TimedEvent, now_ms};
use crate::excerpt::error_chain;
use crate::pipeline::Pipeline;
use crate::profiles::AgentProfile;

/// What to start.
pub(crate) struct StageTurn {
    pub profile: std::sync::Arc<AgentProfile>,
    /// Names the work in events and in the agent's request (`plan`, `review`).
    pub label: &'static str,
    pub prompt: String,
    pub workdir: PathBuf,
    /// The session to continue.
    pub resume: Option<String>,
    /// The agent's private HOME when its profile isolates: shared by the
    /// turns of one stage, since the CLI keeps its sessions there.
    pub isolation: PathBuf,
    /// Logs and the pid file.
    pub dir: PathBuf,
}

/// How a turn ended.
pub(crate) enum TurnEnd {
    Finished {
        outcome: Box<AgentOutcome>,
        session: Option<String>,
    },
    Interrupted,
    /// It could not be started or supervised.
    CouldNotRun(String),
}

pub(crate) async fn take_turn(p: &Pipeline, turn: StageTurn) -> TurnEnd {
    let cancel = CancelToken::new();
    let mut interrupts = p.interrupts.clone();
    let host = p.ws.host.clone();
    let events = p.events.clone();
    let agent_cancel = cancel.clone();
    let agent = async move {
        let mut run = start_agent(
            &host,
            AgentStart {
                profile: &turn.profile,
                label: turn.label,
                prompt: turn.prompt,
                workdir: &turn.workdir,
                resume: turn.resume.as_deref(),
                isolation: &turn.isolation,
                dir: &turn.dir,
                log_name: "agent",
                timeout: None,
                cancel: &agent_cancel,
            },
        )
        .map_err(|error| error_chain(&error))?;
        let mut session = None;
        while let Some(event) = run.next_event().await {
            match event {
                AgentEvent::Started { session_id, .. } => session = Some(session_id),
                AgentEvent::ToolUse { name, .. } => {
                    let _ = events.send(TimedEvent {
                        at_ms: now_ms(),
                        event: RunEvent::AgentActivity {
                            task: turn.label.into(),
                            tool: Some(name),
                            input_tokens: 0,
                            output_tokens: 0,
                        },
                    });
                }
                _ => {}
            }
        }
        let outcome = run.outcome().await.map_err(|error| error_chain(&error))?;
        Ok::<_, String>((outcome, session))
    };
    tokio::pin!(agent);
    let finished = loop {
        tokio::select! {
            finished = &mut agent => break finished,
            count = interrupts.next() => {
                if count <= 1 { cancel.stop() } else { cancel.kill() }
            }
        }
    };
    if p.interrupted() {
        return TurnEnd::Interrupted;
    }
    match finished {
        Ok((outcome, session)) => {
            let session = outcome.session_id.clone().or(session);
            TurnEnd::Finished { outcome: Box::new(outcome), session }
        }
        Err(reason) => TurnEnd::CouldNotRun(reason),
    }
}
