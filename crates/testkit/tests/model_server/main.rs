//! Integration tests of the scripted model server: what it puts on the
//! wire (raw HTTP), and the real `claude` and `codex` CLIs driven by it.

mod client;
mod wire;
