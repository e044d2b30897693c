//! The README's first command ends in `scripts/demo`: it must keep working.

use std::path::Path;
use std::process::Command;

#[test]
fn heavy_the_readme_demo_runs_a_plan_to_completion() {
    let orca = Path::new(env!("CARGO_BIN_EXE_orca"));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = format!(
        "{}:{}",
        orca.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(repo.join("scripts/demo")).env("PATH", path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scripts/demo failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("completed — 5 merged, 0 failed, 0 blocked"), "{stdout}");
    // The program the agents built, run from the integration branch.
    assert!(stdout.contains("Hi Ada!\nGood day, Ada."), "{stdout}");
}
