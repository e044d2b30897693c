//! Telling a live process from an unrelated one that reused its pid:
//! the pid files orca writes (agents, `verify`) and its lease-holder names
//! carry the process's start time too.

use std::path::Path;

/// `<pid> <start time> <boot id>`, as pid files hold it: start times
/// count from boot, so a pid file from before a reboot names nothing.
pub(crate) fn process_identity(pid: u32) -> String {
    format!("{pid} {} {}", process_start_time(pid).unwrap_or_default(), boot_id())
}

/// This boot's ID (Linux), empty where there is none.
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_owned())
        .unwrap_or_default()
}

/// The process's start time in clock ticks since boot (field 22 of
/// /proc/<pid>/stat), or None when it is gone.
pub(crate) fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: count from the last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Kills the process group a pid file (`<pid> <start time> <boot id>`)
/// names, if that process still runs (or its group still has members:
/// what the agent started) in this boot, and removes the file. Returns
/// whether it killed anything.
pub(crate) fn kill_recorded(pid_file: &std::path::Path) -> bool {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;

    let Ok(text) = std::fs::read_to_string(pid_file) else { return false };
    let _ = std::fs::remove_file(pid_file);
    let mut words = text.split_whitespace();
    let (Some(Ok(pid)), Some(Ok(start))) =
        (words.next().map(str::parse::<u32>), words.next().map(str::parse::<u64>))
    else {
        return false;
    };
    // Written before a reboot: that process and its group are gone, and
    // a group with the same number now is someone else's.
    if let Some(boot) = words.next()
        && boot != boot_id()
    {
        return false;
    }
    let alive = process_start_time(pid) == Some(start);
    let members = orca_agents::group_members(pid);
    (alive || !members.is_empty())
        && i32::try_from(pid).is_ok_and(|pgid| killpg(Pid::from_raw(pgid), Signal::SIGKILL).is_ok())
}

/// The environment variable every agent and `verify` orca starts carries:
/// the directory of the attempt (or stage round) that started it. A kill
/// -9 of orca between starting a process and writing its pid file leaves
/// only this to find it by.
pub(crate) const PROCESS_DIR_ENV: &str = "ORCA_PROCESS_DIR";

/// Kills the process group of every process of this user whose
/// [`PROCESS_DIR_ENV`] lies under `dir`, and returns how many groups. What
/// a pid file missed (orca killed right after the start) is found so.
pub(crate) fn kill_marked(dir: &Path) -> usize {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;

    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let me = std::process::id();
    let mut groups = std::collections::BTreeSet::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        // Another user's processes cannot be read, and are not ours.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        let marked = environ.split(|byte| *byte == 0).any(|variable| {
            variable
                .strip_prefix(PROCESS_DIR_ENV.as_bytes())
                .and_then(|rest| rest.strip_prefix(b"="))
                .is_some_and(|value| {
                    use std::os::unix::ffi::OsStrExt;
                    Path::new(std::ffi::OsStr::from_bytes(value)).starts_with(dir)
                })
        });
        if marked && let Some(group) = process_group(pid) {
            groups.insert(group);
        }
    }
    groups
        .into_iter()
        .filter(|&group| {
            i32::try_from(group).is_ok_and(|g| killpg(Pid::from_raw(g), Signal::SIGKILL).is_ok())
        })
        .count()
}

/// The process group of `pid` (field 5 of /proc/<pid>/stat).
fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(2)?.parse().ok()
}

/// This process's name as a worker in the store (its leases, `orca
/// status`): host, pid and the process's start time, so that recovery can
/// tell a dead holder on this machine from a live one.
pub(crate) fn worker_name() -> String {
    let pid = std::process::id();
    format!("orca-run:{}:{pid}:{}", host_name(), process_start_time(pid).unwrap_or_default())
}

pub(crate) fn host_name() -> String {
    nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The orca program, for commands orca writes into tasks (a fix task's
/// `verify` runs `orca scan`): plain `orca` when that is what PATH finds
/// (the task stays readable and outlives a reinstall), else the path of
/// this very executable (a build that is not installed).
pub(crate) fn orca_program() -> String {
    match std::env::current_exe() {
        Ok(me) => program_name(&me, std::env::var_os("PATH").as_deref()),
        Err(_) => "orca".to_owned(),
    }
}

/// `orca` when `search_path` finds `me` under that name, else `me`'s path.
fn program_name(me: &Path, search_path: Option<&std::ffi::OsStr>) -> String {
    let Some(me) = me.canonicalize().ok() else { return "orca".to_owned() };
    let on_path = search_path.is_some_and(|path| {
        std::env::split_paths(path)
            .map(|dir| dir.join("orca"))
            .find(|candidate| candidate.is_file())
            .and_then(|found| found.canonicalize().ok())
            .is_some_and(|found| found == me)
    });
    match me.to_str() {
        Some(_) if on_path => "orca".to_owned(),
        Some(path) => path.to_owned(),
        None => "orca".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_named_orca_only_when_path_finds_this_very_one() {
        let dir = tempfile::tempdir().unwrap();
        let build = dir.path().join("target/debug/orca");
        std::fs::create_dir_all(build.parent().unwrap()).unwrap();
        std::fs::write(&build, "").unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let built = build.canonicalize().unwrap().display().to_string();
        // Not on PATH: the path of the build.
        assert_eq!(program_name(&build, Some(bin.as_os_str())), built);
        // Another orca first on PATH: still the build.
        let other = dir.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("orca"), "").unwrap();
        std::os::unix::fs::symlink(&build, bin.join("orca")).unwrap();
        let path = std::env::join_paths([&other, &bin]).unwrap();
        assert_eq!(program_name(&build, Some(&path)), built);
        // Found as itself (an installed link): plain `orca`.
        let path = std::env::join_paths([&bin, &other]).unwrap();
        assert_eq!(program_name(&build, Some(&path)), "orca");
    }

    #[test]
    fn processes_are_found_by_the_directory_in_their_environment() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let tasks = dir.path().join("runs/r1/tasks");
        let spawn = |marked: &Path| {
            std::process::Command::new("sleep")
                .arg("60")
                .env(PROCESS_DIR_ENV, marked)
                .process_group(0)
                .spawn()
                .unwrap()
        };
        let mut orphan = spawn(&tasks.join("T1/a1"));
        let mut other_run = spawn(&dir.path().join("runs/r2/tasks/T1/a1"));
        assert_eq!(kill_marked(&tasks), 1);
        // Killed: it exits on the signal, not on its own.
        let status = orphan.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
        assert!(other_run.try_wait().unwrap().is_none(), "another run's process lives on");
        other_run.kill().unwrap();
        other_run.wait().unwrap();
    }

    #[test]
    fn a_pid_file_from_another_boot_kills_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.pid");
        // This very process, as if recorded in another boot.
        let me = std::process::id();
        let start = process_start_time(me).unwrap();
        std::fs::write(&file, format!("{me} {start} another-boot")).unwrap();
        assert!(!kill_recorded(&file), "this test is still alive");
        assert!(!file.exists(), "the stale file is removed");
    }

    #[test]
    fn this_boot_is_in_the_identity() {
        let identity = process_identity(std::process::id());
        assert_eq!(identity.split_whitespace().count(), 3, "{identity}");
    }
}
