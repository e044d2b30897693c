//! One module per subcommand. Each exposes an `Args` type (clap) and a
//! `run` function returning the exit code or a [`crate::failure::Failure`].

pub(crate) mod agents;
pub(crate) mod analyze;
pub(crate) mod clean;
pub(crate) mod cleanup;
pub(crate) mod completions;
pub(crate) mod dashboard;
pub(crate) mod debug_create_run;
pub(crate) mod debug_worker;
pub(crate) mod demo;
pub(crate) mod doctor;
pub(crate) mod exec;
pub(crate) mod init;
pub(crate) mod mcp;
pub(crate) mod merge;
pub(crate) mod model_server;
pub(crate) mod plan;
pub(crate) mod report;
pub(crate) mod resume;
pub(crate) mod review;
pub(crate) mod run;
pub(crate) mod runs;
pub(crate) mod scan;
pub(crate) mod status;
pub(crate) mod task;
pub(crate) mod test;
pub(crate) mod version;
pub(crate) mod worker;
pub(crate) mod workers;
