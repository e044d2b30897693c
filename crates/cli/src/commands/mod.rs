//! One module per subcommand. Each exposes an `Args` type (clap) and a
//! `run` function returning the exit code or a [`crate::failure::Failure`].

pub(crate) mod debug_create_run;
pub(crate) mod debug_worker;
pub(crate) mod status;
pub(crate) mod version;
