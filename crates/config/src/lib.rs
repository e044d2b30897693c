//! Where orca keeps its state inside a repository and how it is configured.

mod layout;

pub use layout::{Layout, LayoutError};
