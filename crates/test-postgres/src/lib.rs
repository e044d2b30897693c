//! A throwaway PostgreSQL cluster for orca's tests.
//!
//! [`shared`] starts one cluster per test binary with the machine's `initdb`
//! and `pg_ctl`: in a temp dir, on a unix socket only (`listen_addresses=''`),
//! with `fsync=off`, as the `postgres` user when the tests run as root.
//! nextest runs every test in its own process, so "once per test binary"
//! means once across all processes of that binary: the first one starts the
//! cluster under a file lock, the others attach to it. Each test takes a
//! fresh database from [`Cluster::create_database`].
//!
//! Nothing runs forever: a small watchdog process (started with the cluster,
//! in its own process group so Ctrl-C and nextest's kills do not reach it)
//! stops the cluster once no process of the test binary has been alive for a
//! few seconds, whether the tests ended normally or crashed.
//!
//! [`Cluster::private`] starts a cluster owned by one test (stopped when it
//! is dropped), which [`Cluster::restart_immediate`] may crash and restart
//! without disturbing other tests.
//!
//! The binaries come from `ORCA_PG_BINDIR`, else `pg_config --bindir`, else
//! `/usr/lib/postgresql/*/bin`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Uid, User};

/// The role that must log in with a password (see [`Cluster::password_role`]).
pub const PASSWORD_ROLE: &str = "orca_password_user";
/// The password of [`PASSWORD_ROLE`].
pub const PASSWORD: &str = "correct-horse-battery";

const PORT: u16 = 5432;

/// Stops the cluster in `$1` once none of the pids named by files in
/// `$1/users/` has been alive for `$3` seconds, and removes `$1`. `$2` is
/// pg_ctl, `$4` is "runuser" when pg_ctl must run as the postgres user.
const WATCHDOG: &str = r#"
dir=$1; pgctl=$2; grace=$3; as=$4
run_pg() { if [ "$as" = runuser ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
idle=0
exec 9>>"$dir/lock"
while :; do
  sleep 1
  flock 9
  alive=0
  for f in "$dir"/users/*; do
    [ -e "$f" ] || continue
    if kill -0 "${f##*/}" 2>/dev/null; then alive=1; else rm -f "$f"; fi
  done
  if [ "$alive" = 1 ]; then idle=0; else idle=$((idle + 1)); fi
  # Gone (dropped by its owner): nothing left to watch. A server that is
  # merely stopped may be restarting (restart_immediate): keep watching.
  if [ ! -d "$dir/data" ]; then
    rm -f "$dir/watchdog.pid"; exit 0
  fi
  if [ "$idle" -ge "$grace" ]; then
    run_pg "$pgctl" stop -D "$dir/data" -m immediate -w >/dev/null 2>&1
    # Starters re-check, under the lock, that the lock file they hold is
    # still in place, so removing the directory here is safe.
    rm -rf "$dir"
    exit 0
  fi
  flock -u 9
done
"#;

/// A running PostgreSQL cluster reachable on a unix socket.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bindir: PathBuf,
    as_postgres: bool,
    /// Private clusters are stopped and removed on drop.
    private: bool,
}

static SHARED: OnceLock<Cluster> = OnceLock::new();

/// The cluster shared by every test of this test binary, started on first use.
///
/// Panics with a clear message when PostgreSQL is not installed or does not
/// start: the tests that need it cannot run without it.
pub fn shared() -> &'static Cluster {
    SHARED.get_or_init(|| Cluster::start_shared().unwrap_or_else(|e| panic!("{e}")))
}

impl Cluster {
    fn start_shared() -> Result<Cluster, String> {
        let bindir = find_bindir()?;
        let as_postgres = Uid::effective().is_root();
        let dir = base_dir()?.join(format!("s-{}", binary_key()));
        let cluster = Cluster { dir, bindir, as_postgres, private: false };
        let _guard = cluster.lock_shared_dir()?;
        // Registering under the lock means the watchdog sees us before it
        // could decide the cluster is unused.
        File::create(cluster.dir.join("users").join(std::process::id().to_string()))
            .map_err(|e| format!("register test process: {e}"))?;
        if !cluster.is_running() {
            cluster.init_and_start()?;
        }
        if !cluster.watchdog_alive() {
            cluster.spawn_watchdog(3)?;
        }
        Ok(cluster)
    }

    /// Locks the shared cluster's directory, creating it if needed. The
    /// watchdog removes the directory once the cluster is unused, so a lock
    /// taken on a file that was removed meanwhile is retried.
    fn lock_shared_dir(&self) -> Result<Flock<File>, String> {
        use std::os::unix::fs::MetadataExt;
        for _ in 0..100 {
            fs::create_dir_all(self.dir.join("users"))
                .map_err(|e| format!("create {}: {e}", self.dir.display()))?;
            let path = self.dir.join("lock");
            let lock = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("open {}: {e}", path.display()))?;
            let guard = Flock::lock(lock, FlockArg::LockExclusive)
                .map_err(|(_, e)| format!("lock {}: {e}", path.display()))?;
            let held = guard.metadata().map_err(|e| format!("stat {}: {e}", path.display()))?;
            let current = fs::metadata(&path).ok();
            if current.is_some_and(|m| m.ino() == held.ino() && m.dev() == held.dev())
                && self.dir.join("users").is_dir()
            {
                return Ok(guard);
            }
        }
        Err(format!("could not lock {}: it keeps being removed", self.dir.display()))
    }

    /// Starts a cluster owned by the caller: stopped and removed on drop, and
    /// by its watchdog if this process dies first. Use it for tests that crash
    /// or restart the server.
    pub fn private() -> Cluster {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let start = || -> Result<Cluster, String> {
            let bindir = find_bindir()?;
            let as_postgres = Uid::effective().is_root();
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = base_dir()?.join(format!("p-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join("users"))
                .map_err(|e| format!("create {}: {e}", dir.display()))?;
            File::create(dir.join("users").join(std::process::id().to_string()))
                .map_err(|e| format!("register test process: {e}"))?;
            let cluster = Cluster { dir, bindir, as_postgres, private: true };
            cluster.init_and_start()?;
            cluster.spawn_watchdog(1)?;
            Ok(cluster)
        };
        start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The directory holding the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A connection URL for `database` as the superuser `postgres`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@localhost:{PORT}/{database}?host={}", self.dir.display())
    }

    /// Creates a fresh, empty database with a unique name and returns its URL.
    pub fn create_database(&self) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name =
            format!("t_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        self.psql(&format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Creates (once) the role [`PASSWORD_ROLE`] that must authenticate with
    /// [`PASSWORD`], and returns a URL template for it: `{password}` in the
    /// returned string is where the password goes.
    pub fn password_role(&self) -> String {
        self.psql(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PASSWORD_ROLE}') \
             THEN CREATE ROLE {PASSWORD_ROLE} LOGIN SUPERUSER PASSWORD '{PASSWORD}'; END IF; END $$"
        ));
        format!(
            "postgres://{PASSWORD_ROLE}:{{password}}@localhost:{PORT}/postgres?host={}",
            self.dir.display()
        )
    }

    /// Simulates a crash: `pg_ctl stop -m immediate`, then starts again.
    /// Only for clusters from [`Cluster::private`].
    pub fn restart_immediate(&self) {
        assert!(self.private, "restart only a private cluster; the shared one serves other tests");
        self.stop_immediate();
        self.start().unwrap_or_else(|e| panic!("{e}"));
    }

    /// `pg_ctl stop -m immediate`: the server dies as if killed.
    pub fn stop_immediate(&self) {
        let out = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
        assert!(out.status.success(), "pg_ctl stop failed: {}", describe(&out));
    }

    /// Starts the server again after [`Cluster::stop_immediate`].
    pub fn start(&self) -> Result<(), String> {
        let log = self.dir.join("server.log");
        let out = self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log.display().to_string()]);
        if out.status.success() {
            Ok(())
        } else {
            let server_log = fs::read_to_string(&log).unwrap_or_default();
            Err(format!("pg_ctl start failed: {}\nserver log:\n{server_log}", describe(&out)))
        }
    }

    fn watchdog_alive(&self) -> bool {
        fs::read_to_string(self.dir.join("watchdog.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse::<i32>().ok())
            .is_some_and(|pid| {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            })
    }

    fn is_running(&self) -> bool {
        self.data_dir().join("PG_VERSION").exists() && self.pg_ctl(&["status"]).status.success()
    }

    fn init_and_start(&self) -> Result<(), String> {
        // Whatever is left from a crashed run goes; it is ours to remove.
        if self.data_dir().exists() {
            let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
            // Gone meanwhile (a watchdog finishing its clean-up) is as good.
            match fs::remove_dir_all(self.data_dir()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(format!("remove stale {}: {e}", self.data_dir().display()));
                }
                _ => {}
            }
        }
        if self.as_postgres {
            let postgres = User::from_name("postgres")
                .map_err(|e| format!("look up user postgres: {e}"))?
                .ok_or("running as root needs a `postgres` user to run initdb")?;
            nix::unistd::chown(&self.dir, Some(postgres.uid), Some(postgres.gid))
                .map_err(|e| format!("chown {}: {e}", self.dir.display()))?;
        }
        let initdb = self.bindir.join("initdb");
        let data = self.data_dir().display().to_string();
        let out = self
            .command(&initdb)
            .args(["-D", &data, "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8"])
            .args(["--locale=C"])
            .output()
            .map_err(|e| format!("run {}: {e}", initdb.display()))?;
        if !out.status.success() {
            return Err(format!("initdb failed: {}", describe(&out)));
        }
        // fsync off is safe for a throwaway cluster (the OS keeps the
        // pages); synchronous_commit stays on because the crash tests stop
        // the server with `-m immediate` and a commit must survive that.
        let settings = format!(
            "\nlisten_addresses = ''\nunix_socket_directories = '{}'\nport = {PORT}\n\
             fsync = off\nfull_page_writes = off\n\
             max_connections = 300\nshared_buffers = 64MB\n",
            self.dir.display()
        );
        append(&self.data_dir().join("postgresql.conf"), &settings)?;
        // One role must prove a password (the wrong-password tests); the
        // rest use trust on the socket.
        let hba = format!("local all {PASSWORD_ROLE} scram-sha-256\nlocal all all trust\n");
        fs::write(self.data_dir().join("pg_hba.conf"), hba)
            .map_err(|e| format!("write pg_hba.conf: {e}"))?;
        self.start()
    }

    fn spawn_watchdog(&self, grace_seconds: u32) -> Result<(), String> {
        let child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("orca-test-postgres-watchdog")
            .arg(&self.dir)
            .arg(self.bindir.join("pg_ctl"))
            .arg(grace_seconds.to_string())
            .arg(if self.as_postgres { "runuser" } else { "direct" })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("start the cluster watchdog: {e}"))?;
        fs::write(self.dir.join("watchdog.pid"), child.id().to_string())
            .map_err(|e| format!("write watchdog.pid: {e}"))
    }

    fn psql(&self, sql: &str) {
        let out = Command::new(self.bindir.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.dir)
            .args(["-p", &PORT.to_string(), "-U", "postgres", "-d", "postgres", "-c", sql])
            .output()
            .unwrap_or_else(|e| panic!("run psql: {e}"));
        assert!(out.status.success(), "psql {sql:?} failed: {}", describe(&out));
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        let pg_ctl = self.bindir.join("pg_ctl");
        self.command(&pg_ctl)
            .arg("-D")
            .arg(self.data_dir())
            .args(args)
            .stdin(Stdio::null())
            // The postmaster inherits pg_ctl's process group: keep it out of
            // the test's group so a kill aimed at the test spares the server.
            .process_group(0)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", pg_ctl.display()))
    }

    fn command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.private {
            let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn find_bindir() -> Result<PathBuf, String> {
    let usable = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("ORCA_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return if usable(&dir) {
            Ok(dir)
        } else {
            Err(format!("ORCA_PG_BINDIR={} has no initdb and pg_ctl", dir.display()))
        };
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if usable(&dir) {
            return Ok(dir);
        }
    }
    let mut candidates: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|dir| usable(dir))
        .collect();
    candidates.sort();
    candidates.pop().ok_or_else(|| {
        "PostgreSQL's initdb/pg_ctl not found: set ORCA_PG_BINDIR or run scripts/test-deps \
         (it installs PostgreSQL)"
            .to_string()
    })
}

/// Short, so the socket path stays within the unix limit of 107 bytes.
fn base_dir() -> Result<PathBuf, String> {
    let tmp = std::env::temp_dir();
    let tmp = if tmp.as_os_str().len() > 40 { PathBuf::from("/tmp") } else { tmp };
    let base = tmp.join("orca-pg");
    fs::create_dir_all(&base).map_err(|e| format!("create {}: {e}", base.display()))?;
    // The postgres user must be able to reach its socket directory below.
    let _ = fs::set_permissions(&base, fs::Permissions::from_mode(0o755));
    Ok(base)
}

/// Names the test binary: its path and modification time, so a rebuilt
/// binary gets a fresh cluster.
fn binary_key() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let modified = fs::metadata(&exe)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    // FNV-1a: stable across processes, unlike std's RandomState.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in exe.as_os_str().as_encoded_bytes().iter().chain(modified.to_le_bytes().iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|e| format!("append to {}: {e}", path.display()))
}

fn describe(out: &Output) -> String {
    format!(
        "{}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
