//! The process group an agent runs in: signal it, list who is still in it,
//! and kill it when the supervisor goes away.

use std::fs;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// An agent's process group (its id is the agent's pid).
#[derive(Debug)]
pub struct ProcessGroup {
    pgid: u32,
    /// SIGKILL the group on drop, unless it was seen empty.
    armed: bool,
}

impl ProcessGroup {
    pub fn new(pgid: u32) -> Self {
        ProcessGroup { pgid, armed: true }
    }

    /// Sends `signal` to every process in the group. False when the group
    /// is gone.
    pub fn signal(&self, signal: Signal) -> bool {
        let Ok(pgid) = i32::try_from(self.pgid) else {
            return false;
        };
        match killpg(Pid::from_raw(pgid), signal) {
            Ok(()) => true,
            Err(Errno::ESRCH) => false,
            Err(error) => {
                tracing::warn!(pgid = self.pgid, %error, "cannot signal process group");
                false
            }
        }
    }

    /// Live members (zombies excluded: they are dead, only not yet reaped).
    pub fn members(&self) -> Vec<u32> {
        group_members(self.pgid)
    }

    /// Whether no live process is left in the group. The kernel answers
    /// "no such group" without a look at every process; only when it
    /// still knows the group (perhaps just zombies) is `/proc` read.
    pub fn is_empty(&self) -> bool {
        let Ok(pgid) = i32::try_from(self.pgid) else { return true };
        match killpg(Pid::from_raw(pgid), None) {
            Err(Errno::ESRCH) => true,
            _ => self.members().is_empty(),
        }
    }

    /// Call once the group was seen empty: nothing is left to kill, and the
    /// id may be reused by an unrelated process later.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if self.armed {
            self.signal(Signal::SIGKILL);
        }
    }
}

/// The live processes whose process group is `pgid`, from `/proc`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut members = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        // A process may exit between listing and reading: skip it.
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((state, group)) = parse_stat(&stat)
            && group == pgid
            && state != 'Z'
            && state != 'X'
        {
            members.push(pid);
        }
    }
    members.sort_unstable();
    members
}

/// State and process group from `/proc/<pid>/stat`:
/// `pid (comm) state ppid pgrp ...`; `comm` may hold spaces and parens.
fn parse_stat(stat: &str) -> Option<(char, u32)> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        assert_eq!(parse_stat("42 (a b) c) S 1 42 42 0"), Some(('S', 42)));
        assert_eq!(parse_stat("7 (z) Z 1 9 9"), Some(('Z', 9)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn own_group_is_listed() {
        let own = nix::unistd::getpgrp().as_raw() as u32;
        assert!(group_members(own).contains(&std::process::id()));
    }
}
