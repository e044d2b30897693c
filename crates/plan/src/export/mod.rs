//! Writing plans out: orca Markdown (for importers), JSON, Mermaid, DOT.

mod dot;
mod json;
mod markdown;
mod mermaid;

pub use dot::to_dot;
pub use json::{FORMAT_NAME, FORMAT_VERSION, graph_json, to_json};
pub use markdown::to_markdown;
pub use mermaid::to_mermaid;
