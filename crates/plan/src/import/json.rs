//! orca's own plan JSON back into the model.

use serde_json::Value;

use super::{ImportError, Imported};
use crate::export::{FORMAT_NAME, FORMAT_VERSION};
use crate::model::{Plan, Verify};

/// Reads the JSON that `orca plan graph --format json` (or
/// [`crate::to_json`]) writes. A `graph` object, if present, is ignored:
/// it is recomputed from the tasks.
pub fn from_json(text: &str) -> Result<Imported, ImportError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ImportError::json(&e))?;
    if let Some(format) = value.get("format")
        && format != FORMAT_NAME
    {
        return Err(ImportError::Shape(format!(
            "`format` is {format}, expected \"{FORMAT_NAME}\""
        )));
    }
    if let Some(version) = value.get("version")
        && version.as_u64() != Some(FORMAT_VERSION)
    {
        return Err(ImportError::Shape(format!(
            "`version` is {version}; this orca reads version {FORMAT_VERSION}"
        )));
    }
    let mut plan: Plan =
        serde_json::from_value(value).map_err(|e| ImportError::Shape(e.to_string()))?;
    // Text fields come from outside; make them safe to write as Markdown.
    plan.title = super::one_line(&plan.title);
    plan.description = super::markdown_block(&plan.description);
    for (i, phase) in plan.phases.iter_mut().enumerate() {
        phase.title = super::phase_title(i + 1, &phase.title);
        phase.description = super::markdown_block(&phase.description);
    }
    for task in &mut plan.tasks {
        task.title = super::one_line(&task.title);
        task.description = super::markdown_block(&task.description);
        task.accept =
            task.accept.iter().map(|a| super::one_line(a)).filter(|a| !a.is_empty()).collect();
        if let Some(verify) = &task.verify
            && (verify.command().contains('\n') || verify.command().trim() != verify.command())
        {
            // Keep the argv; write the command on one line.
            task.verify = Verify::from_argv(&verify.argv()).ok();
        }
        if task.phase.is_some_and(|p| p >= plan.phases.len()) {
            task.phase = None;
        }
    }
    if plan.tasks.is_empty() {
        return Err(ImportError::NoTasks("the JSON plan has no tasks".to_owned()));
    }
    Ok(Imported { plan, done: Vec::new(), notes: Vec::new() })
}
