//! Integration tests of the scripted model server: what it puts on the
//! wire (raw HTTP), and the real `claude` and `codex` CLIs driven by it.

mod agent_run;
mod claude;
mod client;
mod codex;
mod docs;
mod parallel;
mod wire;
