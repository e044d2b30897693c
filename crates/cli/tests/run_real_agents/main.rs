//! `orca run --plan` and `orca resume` end to end: the real `orca` binary
//! drives the pinned Claude Code and Codex CLIs, which talk to orca's
//! scripted model server, on real git repositories (the acceptance tests
//! of issue 5). Every test here runs many processes: all are `heavy_`.

mod agent_failures;
mod budgets;
mod conflict;
mod diamond;
mod gates;
mod harness;
mod interruptions;
mod retry;
mod usage_limit;
