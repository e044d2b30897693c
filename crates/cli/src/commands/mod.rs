//! One module per subcommand. Each exposes an `Args` type (clap) and a
//! `run` function returning the exit code or a [`crate::failure::Failure`].

pub(crate) mod plan;
pub(crate) mod version;
