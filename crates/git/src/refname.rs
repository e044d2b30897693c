//! The branches orca creates, and turning run and task IDs into ref names.
//!
//! Layout: `orca/<run>/integration` collects a run's merged work;
//! `orca/<run>/<task>/a<n>` holds attempt `n` of a task. IDs come from plans
//! written by people and agents, so they are sanitized into one ref
//! component each. A sanitized ID that differs from the original gets a
//! short hash of the original appended, so two different IDs never share
//! a branch.

/// Every branch orca creates starts with this component.
pub const BRANCH_NAMESPACE: &str = "orca";

/// The component after `<run>/` reserved for the integration branch; a task
/// with this ID is renamed so its branches cannot collide with it.
const INTEGRATION: &str = "integration";

/// Longest kept part of an ID, so names stay readable and within file name
/// limits of the files ref backend.
const MAX_COMPONENT: usize = 48;

/// `orca/<run>/integration`: where a run merges its tasks, in dependency order.
pub fn integration_branch(run: &str) -> String {
    format!("{BRANCH_NAMESPACE}/{}/{INTEGRATION}", ref_component(run))
}

/// `orca/<run>/<task>/a<attempt>`: one attempt at one task.
pub fn attempt_branch(run: &str, task: &str, attempt: u32) -> String {
    format!("{BRANCH_NAMESPACE}/{}/{}/a{attempt}", ref_component(run), task_component(task))
}

/// `orca/<run>/`: the prefix of every branch of one run, for
/// [`Repo::delete_branches_with_prefix`](crate::Repo::delete_branches_with_prefix).
/// The trailing slash keeps run `r1` from matching run `r10`.
pub fn run_branch_prefix(run: &str) -> String {
    format!("{BRANCH_NAMESPACE}/{}/", ref_component(run))
}

/// The worktree directory of one task below `worktrees_dir` (orca uses
/// `.orca/worktrees/`): `<worktrees_dir>/<run>/<task>`. Every attempt of
/// the task uses the same directory (on its own branch), because agent
/// CLIs file their sessions under the working directory: resuming a
/// session after a failed or interrupted attempt needs the same path.
pub fn task_worktree_path(
    worktrees_dir: &std::path::Path,
    run: &str,
    task: &str,
) -> std::path::PathBuf {
    worktrees_dir.join(ref_component(run)).join(task_component(task))
}

/// The worktree directory where a conflict between `task` and the
/// integration branch is resolved: `<worktrees_dir>/<run>/<task>.resolve`.
pub fn resolver_worktree_path(
    worktrees_dir: &std::path::Path,
    run: &str,
    task: &str,
) -> std::path::PathBuf {
    worktrees_dir.join(ref_component(run)).join(format!("{}.resolve", task_component(task)))
}

/// One ref component made from an arbitrary ID: letters, digits, `-`, `_`
/// and `.` only, no leading `.`/`-`, no `..`, no trailing `.` or `.lock`,
/// at most 48 characters. IDs already in that form are returned unchanged;
/// any other ID is cleaned, cut to 39 characters and gets
/// `-<8 hex digits of its FNV-1a hash>`.
pub fn ref_component(id: &str) -> String {
    let mut clean: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .collect();
    while clean.contains("..") {
        clean = clean.replace("..", ".");
    }
    let mut clean = clean.trim_start_matches(['.', '-']).trim_end_matches('.').to_string();
    if let Some(stem) = clean.strip_suffix(".lock") {
        clean = format!("{stem}-lock");
    }
    if clean == id && !clean.is_empty() && clean.len() <= MAX_COMPONENT {
        return clean;
    }
    // Room for "-" and 8 hex digits; `clean` is ASCII, so any cut is on a
    // char boundary, and the hash suffix keeps a cut from ending in `.`.
    clean.truncate(MAX_COMPONENT - 9);
    if clean.is_empty() {
        clean.push_str("id");
    }
    format!("{clean}-{:08x}", fnv1a(id.as_bytes()))
}

/// Like [`ref_component`], but also steers clear of `integration`, which
/// names the run's integration branch at the same level.
fn task_component(task: &str) -> String {
    let clean = ref_component(task);
    if clean == INTEGRATION { format!("{clean}-{:08x}", fnv1a(task.as_bytes())) } else { clean }
}

/// FNV-1a, 32 bit: tiny and stable across Rust versions, unlike `std`'s hasher.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, b| (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// Checks a branch name (without `refs/heads/`) against git's rules for ref
/// names (`git check-ref-format --branch`), returning why it is invalid.
pub fn check_branch_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.starts_with('-') {
        return Err("it starts with '-'");
    }
    if name == "HEAD" || name == "@" {
        return Err("it is a reserved name");
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Err("it has an empty path component");
    }
    if name.ends_with('.') {
        return Err("it ends with '.'");
    }
    if name.contains("..") {
        return Err("it contains '..'");
    }
    if name.contains("@{") {
        return Err("it contains '@{'");
    }
    if name.chars().any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c)) {
        return Err("it contains a space, a control character or one of ~^:?*[\\");
    }
    for component in name.split('/') {
        if component.starts_with('.') {
            return Err("a path component starts with '.'");
        }
        if component.ends_with(".lock") {
            return Err("a path component ends with '.lock'");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn branch_names_follow_the_layout() {
        assert_eq!(integration_branch("r1"), "orca/r1/integration");
        assert_eq!(attempt_branch("r1", "T3", 2), "orca/r1/T3/a2");
        assert_eq!(run_branch_prefix("r1"), "orca/r1/");
        assert_eq!(
            task_worktree_path(std::path::Path::new("/x/.orca/worktrees"), "r1", "T3"),
            std::path::Path::new("/x/.orca/worktrees/r1/T3")
        );
        assert_eq!(
            resolver_worktree_path(std::path::Path::new("/x/.orca/worktrees"), "r1", "T3"),
            std::path::Path::new("/x/.orca/worktrees/r1/T3.resolve")
        );
    }

    #[test]
    fn clean_ids_are_kept_and_others_get_a_hash() {
        assert_eq!(ref_component("auth-login_2.v1"), "auth-login_2.v1");
        // Pinned: the hash must never change, branches of old runs use it
        // (and docs/git.md shows this example).
        assert_eq!(ref_component("add login page"), "add-login-page-28e40868");
        // Two IDs that sanitize alike still get different components.
        assert_ne!(ref_component("a b"), ref_component("a:b"));
        assert_ne!(ref_component("a b"), "a-b");
        assert!(ref_component("../x.lock").ends_with(&format!("-{:08x}", fnv1a(b"../x.lock"))));
        assert!(ref_component("x.lock").starts_with("x-lock-"));
        assert!(ref_component("").starts_with("id-"));
        assert!(ref_component("日本").starts_with("id-"));
        let long = "x".repeat(60);
        assert_eq!(ref_component(&long).len(), MAX_COMPONENT);
        assert_eq!(ref_component(&"y".repeat(MAX_COMPONENT)), "y".repeat(MAX_COMPONENT));
    }

    #[test]
    fn a_task_called_integration_cannot_shadow_the_integration_branch() {
        let branch = attempt_branch("r", "integration", 1);
        assert_ne!(branch, "orca/r/integration/a1");
        assert!(branch.starts_with("orca/r/integration-"), "{branch}");
    }

    #[test]
    fn invalid_names_say_why() {
        for bad in [
            "", "-x", "HEAD", "@", "a/", "/a", "a//b", "a.", "a..b", "a@{1}", "a b", "a~1", "a^",
            "a:b", "a?", "a*", "a[", "a\\b", "a\tb", "a/.b", "a.lock", "a.lock/b",
        ] {
            assert!(check_branch_name(bad).is_err(), "{bad:?} should be invalid");
        }
        for good in ["main", "orca/r1/integration", "feature/x-1", "v1.2", "a@b", "ünïcode"] {
            assert_eq!(check_branch_name(good), Ok(()), "{good:?} should be valid");
        }
    }

    proptest! {
        #[test]
        fn sanitized_components_are_always_valid(id in any::<String>()) {
            let component = ref_component(&id);
            prop_assert!(!component.contains('/'));
            prop_assert!(component.len() <= MAX_COMPONENT);
            prop_assert_eq!(check_branch_name(&component), Ok(()));
            prop_assert_eq!(check_branch_name(&attempt_branch(&id, &id, 7)), Ok(()));
            prop_assert_eq!(check_branch_name(&integration_branch(&id)), Ok(()));
        }

        #[test]
        fn sanitizing_twice_changes_nothing_more(id in "[ -~]{0,70}") {
            let once = ref_component(&id);
            prop_assert_eq!(ref_component(&once), once.clone());
        }

        #[test]
        fn distinct_ids_get_distinct_components(a in "[a-z .:/]{1,12}", b in "[a-z .:/]{1,12}") {
            prop_assume!(a != b);
            prop_assert_ne!(ref_component(&a), ref_component(&b));
        }
    }
}
