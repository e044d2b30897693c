//! The session lock, `.orca/lock`: at most one orca session drives a
//! repository at a time.
//!
//! The file holds the holder's pid, host, start time and last heartbeat. A
//! new session creates it atomically (write a temp file, then hard-link it to
//! `.orca/lock`, which fails if the lock exists). A lock is stale when its
//! pid is dead on this host or its heartbeat is older than the TTL; taking
//! over a stale lock happens under an exclusive `flock` on `.orca/lock.guard`
//! that every remover holds, with a re-check of staleness inside it, so of
//! many processes racing for one stale lock exactly one wins.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use orca_config::{Layout, LayoutError};
use serde::{Deserialize, Serialize};

use crate::db::system_now_ms;
use crate::model::utc_timestamp;

/// Who holds (or held) the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    /// When the holder took the lock (ms since the epoch).
    pub started_ms: i64,
    /// The holder's last sign of life (ms since the epoch).
    pub heartbeat_ms: i64,
    /// Tells this holder's lock apart from a later one by the same pid.
    pub token: String,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ago = (system_now_ms() - self.heartbeat_ms).max(0) / 1000;
        write!(
            f,
            "pid {} on {}, since {} (last heartbeat {ago}s ago)",
            self.pid,
            self.host,
            utc_timestamp(self.started_ms)
        )
    }
}

/// Why the lock could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another orca session holds {path}: {holder}")]
    Held { path: PathBuf, holder: LockHolder },
    #[error("{path} stays unreadable after replacing it; remove it by hand if no orca runs here")]
    Unreadable { path: PathBuf },
    #[error("this session no longer holds {path}{}", .holder.as_ref().map(|h| format!(": {h} took it over")).unwrap_or_default())]
    Lost { path: PathBuf, holder: Option<LockHolder> },
    #[error("cannot use the session lock {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

/// A held session lock; released when dropped.
#[derive(Debug)]
pub struct SessionLock {
    path: PathBuf,
    guard: PathBuf,
    holder: LockHolder,
    ttl: Duration,
}

impl SessionLock {
    /// Takes the lock of the repository at `layout` (creating `.orca/` if
    /// needed). Refuses with [`LockError::Held`], naming the holder, while a
    /// live session holds it; takes over a stale one.
    pub fn acquire(layout: &Layout, ttl: Duration) -> Result<SessionLock, LockError> {
        layout.ensure()?;
        let path = layout.lock_file();
        let guard = path.with_file_name("lock.guard");
        let now = system_now_ms();
        let holder = LockHolder {
            pid: std::process::id(),
            host: this_host(),
            started_ms: now,
            heartbeat_ms: now,
            token: format!("{:016x}", fastrand::u64(..)),
        };
        let lock = SessionLock { path, guard, holder, ttl };
        // Create; if a stale lock is in the way, remove it under the guard
        // and create again. Losing a later round to another session means
        // that session is live (it is then refused below).
        for _ in 0..5 {
            if lock.try_create()? {
                return Ok(lock);
            }
            let _guard = lock.lock_guard()?;
            match lock.read_holder()? {
                None => continue,
                Some(Ok(current)) if !is_stale(&current, ttl) => {
                    return Err(LockError::Held { path: lock.path.clone(), holder: current });
                }
                Some(Ok(stale)) => {
                    tracing::warn!(pid = stale.pid, host = %stale.host, "taking over a stale session lock");
                }
                // orca writes a lock whole (a hard link of a complete file),
                // so one it cannot read was never a live session's: damaged
                // by a crash, the disk, or someone else. Stale.
                Some(Err(age)) => {
                    tracing::warn!(age_s = age.as_secs(), "replacing an unreadable session lock");
                }
            }
            remove_if_exists(&lock.path).map_err(|source| lock.io(source))?;
        }
        match lock.read_holder()? {
            Some(Ok(current)) => Err(LockError::Held { path: lock.path.clone(), holder: current }),
            _ => Err(LockError::Unreadable { path: lock.path.clone() }),
        }
    }

    /// This session, as recorded in the lock.
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }

    /// How long the lock stays valid without a heartbeat.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a sign of life. Call it well within the TTL (e.g. every
    /// TTL/3); fails with [`LockError::Lost`] if another session took over.
    pub fn heartbeat(&mut self) -> Result<(), LockError> {
        let _guard = self.lock_guard()?;
        self.check_still_ours()?;
        let mut holder = self.holder.clone();
        holder.heartbeat_ms = system_now_ms();
        let tmp = self.temp_path();
        write_new(&tmp, &holder).map_err(|source| self.io(source))?;
        let renamed = fs::rename(&tmp, &self.path);
        if let Err(source) = renamed {
            let _ = fs::remove_file(&tmp);
            return Err(self.io(source));
        }
        self.holder = holder;
        Ok(())
    }

    /// Gives the lock up now (dropping does the same, ignoring errors).
    pub fn release(self) -> Result<(), LockError> {
        self.remove()
    }

    fn remove(&self) -> Result<(), LockError> {
        let _guard = self.lock_guard()?;
        self.check_still_ours()?;
        remove_if_exists(&self.path).map_err(|source| self.io(source))
    }

    fn check_still_ours(&self) -> Result<(), LockError> {
        match self.read_holder()? {
            Some(Ok(current)) if current.token == self.holder.token => Ok(()),
            Some(Ok(other)) => {
                Err(LockError::Lost { path: self.path.clone(), holder: Some(other) })
            }
            _ => Err(LockError::Lost { path: self.path.clone(), holder: None }),
        }
    }

    /// Creates the lock file if there is none; false if one exists.
    fn try_create(&self) -> Result<bool, LockError> {
        let tmp = self.temp_path();
        write_new(&tmp, &self.holder).map_err(|source| self.io(source))?;
        // A hard link is created atomically and only if the name is free:
        // the lock appears complete or not at all.
        let linked = fs::hard_link(&tmp, &self.path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(source) => Err(self.io(source)),
        }
    }

    /// `None`: no lock file. `Some(Err(age))`: unreadable (not orca's
    /// JSON, not even text), last written `age` ago.
    fn read_holder(&self) -> Result<Option<Result<LockHolder, Duration>>, LockError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(self.io(source)),
        };
        Ok(Some(serde_json::from_slice(&bytes).map_err(|_| {
            fs::metadata(&self.path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .unwrap_or(Duration::ZERO)
        })))
    }

    fn lock_guard(&self) -> Result<Flock<File>, LockError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.guard)
            .map_err(|source| LockError::Io { path: self.guard.clone(), source })?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| LockError::Io { path: self.guard.clone(), source: errno.into() })
    }

    fn temp_path(&self) -> PathBuf {
        self.path.with_file_name(format!(
            "lock.{}.{:08x}.tmp",
            std::process::id(),
            fastrand::u32(..)
        ))
    }

    fn io(&self, source: io::Error) -> LockError {
        LockError::Io { path: self.path.clone(), source }
    }
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        if let Err(error) = self.remove() {
            tracing::warn!(%error, "could not release the session lock");
        }
    }
}

/// Stale: the holder's process is gone (same host), or it has not
/// heartbeated within the TTL (any host).
fn is_stale(holder: &LockHolder, ttl: Duration) -> bool {
    let silent_ms = system_now_ms() - holder.heartbeat_ms;
    if silent_ms > i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX) {
        return true;
    }
    holder.host == this_host() && !pid_alive(holder.pid)
}

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // EPERM means the process exists but belongs to someone else.
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

fn this_host() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

fn write_new(path: &Path, holder: &LockHolder) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let text = serde_json::to_string(holder).map_err(io::Error::other)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;

    const TTL: Duration = Duration::from_secs(30);

    fn write_lock(layout: &Layout, holder: &LockHolder) {
        layout.ensure().unwrap();
        fs::write(layout.lock_file(), serde_json::to_string(holder).unwrap()).unwrap();
    }

    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    fn holder(pid: u32, host: &str, heartbeat_ms: i64) -> LockHolder {
        LockHolder {
            pid,
            host: host.to_owned(),
            started_ms: heartbeat_ms,
            heartbeat_ms,
            token: "old".to_owned(),
        }
    }

    #[test]
    fn a_second_session_is_refused_and_told_who_holds_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        let first = SessionLock::acquire(&layout, TTL).unwrap();
        let err = SessionLock::acquire(&layout, TTL).unwrap_err();
        let LockError::Held { holder, .. } = &err else { panic!("expected Held, got {err}") };
        assert_eq!(holder, first.holder());
        let message = err.to_string();
        assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
        assert!(message.contains(&this_host()), "{message}");
        assert!(message.contains(" UTC"), "{message}");
        drop(first);
        assert!(!layout.lock_file().exists(), "dropping releases the lock");
        SessionLock::acquire(&layout, TTL).unwrap();
    }

    #[test]
    fn a_lock_whose_process_died_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        write_lock(&layout, &holder(dead_pid(), &this_host(), system_now_ms()));
        let lock = SessionLock::acquire(&layout, TTL).unwrap();
        assert_eq!(lock.holder().pid, std::process::id());
        let on_disk: LockHolder =
            serde_json::from_str(&fs::read_to_string(layout.lock_file()).unwrap()).unwrap();
        assert_eq!(&on_disk, lock.holder());
    }

    #[test]
    fn another_hosts_lock_is_stale_only_after_its_ttl() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        write_lock(&layout, &holder(1, "elsewhere", system_now_ms()));
        let err = SessionLock::acquire(&layout, TTL).unwrap_err();
        assert!(err.to_string().contains("on elsewhere"), "{err}");
        write_lock(&layout, &holder(1, "elsewhere", system_now_ms() - 31_000));
        SessionLock::acquire(&layout, TTL).unwrap();
    }

    #[test]
    fn heartbeat_refreshes_and_detects_a_takeover() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        let mut lock = SessionLock::acquire(&layout, TTL).unwrap();
        let before = lock.holder().heartbeat_ms;
        std::thread::sleep(Duration::from_millis(5));
        lock.heartbeat().unwrap();
        assert!(lock.holder().heartbeat_ms > before);
        write_lock(&layout, &holder(4242, "thief", system_now_ms()));
        let err = lock.heartbeat().unwrap_err();
        assert!(
            matches!(&err, LockError::Lost { holder: Some(h), .. } if h.host == "thief"),
            "{err}"
        );
        drop(lock);
        assert!(layout.lock_file().exists(), "a lost lock is not removed on drop");
    }

    #[test]
    fn racing_takeover_of_a_stale_lock_has_exactly_one_winner() {
        for round in 0..20 {
            let tmp = tempfile::tempdir().unwrap();
            let layout = Layout::new(tmp.path());
            write_lock(&layout, &holder(dead_pid(), &this_host(), system_now_ms() - 60_000));
            let threads = 12;
            let barrier = Arc::new(Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let layout = layout.clone();
                    let barrier = Arc::clone(&barrier);
                    std::thread::spawn(move || {
                        barrier.wait();
                        SessionLock::acquire(&layout, TTL)
                    })
                })
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let winners: Vec<&SessionLock> =
                results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(winners.len(), 1, "round {round}: {} winners", winners.len());
            let token = &winners[0].holder().token;
            for result in &results {
                if let Err(err) = result {
                    let LockError::Held { holder, .. } = err else {
                        panic!("round {round}: {err}")
                    };
                    assert_eq!(&holder.token, token, "losers name the winner");
                }
            }
            let on_disk: LockHolder =
                serde_json::from_str(&fs::read_to_string(layout.lock_file()).unwrap()).unwrap();
            assert_eq!(&on_disk.token, token);
        }
    }

    /// A lock is written whole, so one orca cannot read was never a live
    /// session's: it is stale at once, text or binary garbage alike.
    #[test]
    fn garbage_in_the_lock_is_taken_over_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        layout.ensure().unwrap();
        for garbage in [&b"not json"[..], &[0xff, 0xfe, 0x00, 0x9c, 0x80][..], &b""[..]] {
            fs::write(layout.lock_file(), garbage).unwrap();
            let lock = SessionLock::acquire(&layout, TTL).unwrap();
            let on_disk: LockHolder =
                serde_json::from_str(&fs::read_to_string(layout.lock_file()).unwrap()).unwrap();
            assert_eq!(on_disk.token, lock.holder().token);
            lock.release().unwrap();
        }
    }
}
