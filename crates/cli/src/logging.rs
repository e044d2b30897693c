//! Logs are for operators and developers (what users read is the
//! commands' output): `ORCA_LOG=debug` (any `tracing` filter) sends them to
//! stderr, and every `orca run`/`orca resume` writes its run's log to
//! `.orca/runs/<run>/orca.log`, with the run, task and attempt of each line.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer as _};

/// The variable that turns logs on stderr on.
const LOG_ENV: &str = "ORCA_LOG";

/// What the run log records unless `ORCA_RUN_LOG` says otherwise.
const RUN_LOG_FILTER: &str = "info,orca_engine=debug,orca_agents=debug,sqlx=warn";

/// The file the run log goes to once a run is known; nothing before.
#[derive(Clone, Default)]
pub(crate) struct RunLog {
    file: Arc<Mutex<Option<File>>>,
}

impl RunLog {
    /// Appends the log from now on to `path` (creating it).
    pub(crate) fn open(&self, path: &Path) {
        let file = OpenOptions::new().create(true).append(true).open(path);
        match (file, self.file.lock()) {
            (Ok(file), Ok(mut current)) => *current = Some(file),
            (Err(error), _) => {
                eprintln!("warning: cannot write the run log {}: {error}", path.display())
            }
            (_, Err(_)) => {}
        }
    }
}

/// Writes to the run log's file, if one is open.
pub(crate) struct RunLogWriter(Arc<Mutex<Option<File>>>);

impl Write for RunLogWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.0.lock() {
            Ok(mut file) => match file.as_mut() {
                Some(file) => file.write(bytes),
                None => Ok(bytes.len()),
            },
            Err(_) => Ok(bytes.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.0.lock() {
            Ok(mut file) => file.as_mut().map_or(Ok(()), File::flush),
            Err(_) => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for RunLog {
    type Writer = RunLogWriter;

    fn make_writer(&'a self) -> RunLogWriter {
        RunLogWriter(self.file.clone())
    }
}

/// Installs the subscriber for this process: logs on stderr when
/// `ORCA_LOG` asks for them, and, for commands that drive a run, the run
/// log (returned, to point at its file once the run is known). Commands
/// that need neither install nothing: they stay as fast as they are.
pub(crate) fn install(drives_a_run: bool) -> Option<RunLog> {
    let stderr_filter = std::env::var(LOG_ENV).ok().filter(|filter| !filter.trim().is_empty());
    let stderr = stderr_filter.map(|filter| {
        tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_target(true)
            .with_filter(EnvFilter::new(filter))
    });
    if stderr.is_none() && !drives_a_run {
        return None;
    }
    let run_log = drives_a_run.then(RunLog::default);
    let file = run_log.clone().map(|run_log| {
        let filter = std::env::var("ORCA_RUN_LOG").unwrap_or_else(|_| RUN_LOG_FILTER.to_owned());
        // A field formatter of its own: span fields are formatted once per
        // formatter type and kept, so sharing stderr's would carry its
        // colour codes into the file.
        let plain_fields = tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
            write!(writer, "{field}={value:?}")
        })
        .delimited(" ");
        tracing_subscriber::fmt::layer()
            .with_writer(run_log)
            .with_ansi(false)
            .with_target(true)
            .fmt_fields(plain_fields)
            .with_filter(EnvFilter::new(filter))
    });
    let _ = tracing_subscriber::registry().with(stderr).with(file).try_init();
    run_log
}
