//! orca-git against real git in temp repositories.

mod branches;
mod commit;
mod concurrency;
mod conflict;
mod diff;
mod hermetic;
mod killed;
mod merge;
mod repo;
mod support;
mod user_checkout;
mod worktree;
