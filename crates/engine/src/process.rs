//! Telling a live process from an unrelated one that reused its pid:
//! the pid files orca writes (agents, `verify`) and its lease-holder names
//! carry the process's start time too.

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
/// `verify` runs `orca scan`): this very executable when it can tell.
pub(crate) fn orca_program() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.to_str().map(str::to_owned))
        .unwrap_or_else(|| "orca".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

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
