//! orca-store's integration tests: one binary, so the PostgreSQL cluster is
//! shared by all of them.

mod common;
mod conformance;
mod open;
