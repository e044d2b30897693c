//! A role for an imported task when the source has none: read from the
//! files it touches and the words of its title, only into roles the plan
//! allows, and only when the evidence is plain; everything else gets the
//! `--role` default.

use std::collections::BTreeMap;

use super::ImportOptions;
use crate::model::{Plan, Task};

fn is_doc(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.starts_with("docs/")
        || lower.starts_with("doc/")
        || lower.ends_with(".md")
        || lower.ends_with(".rst")
        || lower.ends_with(".adoc")
}

fn is_test(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    lower.starts_with("tests/")
        || lower.starts_with("test/")
        || lower.contains("/tests/")
        || lower.contains("/test/")
        || lower.contains("__tests__/")
        || name.starts_with("test_")
        || name.contains("_test.")
        || name.contains(".test.")
        || name.contains(".spec.")
}

fn is_infra(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    lower.starts_with(".github/")
        || lower.starts_with(".gitlab-ci")
        || lower.starts_with("infra/")
        || lower.starts_with("deploy/")
        || lower.starts_with("terraform/")
        || lower.starts_with("helm/")
        || lower.starts_with("k8s/")
        || name.starts_with("dockerfile")
        || name == "docker-compose.yml"
        || name == "docker-compose.yaml"
        || name.ends_with(".tf")
}

fn is_frontend(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".tsx", ".jsx", ".vue", ".svelte", ".css", ".scss", ".html"].iter().any(|e| lower.ends_with(e))
        || ["web/", "frontend/", "ui/", "client/"].iter().any(|d| lower.starts_with(d))
        || lower.contains("/components/")
}

/// The role the task's files or title point to, if they agree.
fn infer(task: &Task) -> Option<&'static str> {
    let files: Vec<&str> = task.files.iter().flatten().map(|f| f.as_str()).collect();
    if !files.is_empty() {
        for (role, test) in [
            ("test", is_test as fn(&str) -> bool),
            ("docs", is_doc),
            ("infra", is_infra),
            ("frontend", is_frontend),
        ] {
            if files.iter().all(|f| test(f)) {
                return Some(role);
            }
        }
    }
    let title = task.title.to_ascii_lowercase();
    let first = title.split_whitespace().next().unwrap_or_default();
    let words: Vec<&str> =
        title.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let has = |w: &str| words.contains(&w);
    match first {
        "test" | "tests" => return Some("test"),
        "document" | "documentation" => return Some("docs"),
        "refactor" => return Some("refactor"),
        "review" | "audit" => return Some(if has("security") { "security" } else { "review" }),
        _ => {}
    }
    if has("security")
        || has("vulnerability")
        || has("vulnerabilities")
        || has("csrf")
        || has("xss")
    {
        return Some("security");
    }
    if files.is_empty() && (has("readme") || has("docs") || has("documentation")) {
        return Some("docs");
    }
    None
}

/// Sets the role of every task whose files or title say it plainly (and
/// the role is allowed); notes how many got which.
pub(crate) fn infer_roles(plan: &mut Plan, options: &ImportOptions, notes: &mut Vec<String>) {
    if !options.infer_roles {
        return;
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for task in &mut plan.tasks {
        if let Some(role) = infer(task)
            && role != options.role
            && options.roles.iter().any(|r| r == role)
        {
            task.role = role.to_owned();
            *counts.entry(role).or_default() += 1;
        }
    }
    if !counts.is_empty() {
        let list: Vec<String> = counts.iter().map(|(role, n)| format!("{role} ×{n}")).collect();
        notes.push(format!(
            "roles read from files and titles: {}; the other tasks are {}",
            list.join(", "),
            options.role
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FilePattern, TaskId};

    fn task(title: &str, files: &[&str]) -> Task {
        let mut task = Task::new(TaskId::parse("T1").unwrap(), title, "backend");
        if !files.is_empty() {
            task.files = Some(files.iter().map(|f| FilePattern::parse(f).unwrap()).collect());
        }
        task
    }

    #[test]
    fn roles_come_from_plain_evidence_only() {
        assert_eq!(infer(&task("Add cases", &["tests/api.rs", "src/x.test.ts"])), Some("test"));
        assert_eq!(infer(&task("Write the guide", &["docs/guide.md", "README.md"])), Some("docs"));
        assert_eq!(infer(&task("CI", &[".github/workflows/ci.yml"])), Some("infra"));
        assert_eq!(infer(&task("Card", &["web/src/Card.tsx"])), Some("frontend"));
        assert_eq!(infer(&task("Refactor the store", &[])), Some("refactor"));
        assert_eq!(infer(&task("Fix XSS in comments", &[])), Some("security"));
        // Mixed files, or nothing telling: no guess.
        assert_eq!(infer(&task("Add login", &["src/login.rs", "tests/login.rs"])), None);
        assert_eq!(infer(&task("Add login", &[])), None);
    }
}
