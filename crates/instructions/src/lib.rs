//! orca's instructions in the agent's own files. `orca init` writes orca's pipeline,
//! plan format, queue rules and session rules into the files every agent
//! session reads (a managed block in CLAUDE.md and AGENTS.md), plus Claude
//! Code role subagents, slash commands and the documented default config.
//!
//! Two promises hold for every file: the user's text is never changed (only
//! the bytes between orca's markers are), and a generated file the user has
//! edited is never overwritten without `force`.

pub mod block;
pub mod content;
mod init;
pub mod stamp;

pub use init::{Action, FileChange, FileKind, InitError, InitOptions, InitPlan, Reason};
