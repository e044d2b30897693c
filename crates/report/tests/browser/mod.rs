//! Headless Chromium for the tests of orca's pages: Debian's `chromium`
//! (scripts/test-deps installs it; `ORCA_CHROMIUM` names another binary),
//! offline, a fresh profile per call. Shared by the report's tests and the
//! CLI's end-to-end tests (`#[path]`).

#![allow(dead_code, reason = "each test file uses a part of it")]

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn chromium() -> PathBuf {
    let path = std::env::var_os("ORCA_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "headless Chromium is needed at {} (scripts/test-deps installs Debian's `chromium`)",
        path.display()
    );
    path
}

/// Chromium, headless and offline; console messages go to stderr.
pub(crate) fn chromium_command(profile: &Path) -> Command {
    let mut command = Command::new(chromium());
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// The DOM after the page's script ran; fails on any console error or
/// uncaught exception.
pub(crate) fn chromium_dom(page: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = chromium_command(profile.path())
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let page_url = format!("file://{}", page.display());
    let console_errors: Vec<&str> = stderr
        .lines()
        .filter(|line| {
            line.contains("CONSOLE") && (line.contains(&page_url) || line.contains("Uncaught"))
        })
        .collect();
    assert!(console_errors.is_empty(), "console errors: {console_errors:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn chromium_screenshot(page: &Path, shot: &Path, (width, height): (u32, u32)) {
    let profile = tempfile::tempdir().unwrap();
    let out = chromium_command(profile.path())
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg("--hide-scrollbars")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(out.status.success() && shot.exists(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `target/test-artifacts/NAME`, kept after the test.
pub(crate) fn artifact(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
