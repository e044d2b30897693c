//! `orca init` as a library: decide, for every file orca owns or shares,
//! what to do (create, update, leave, skip), then do it. Deciding reads
//! everything first, so a problem in any file means nothing is written.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use orca_config::{Layout, LayoutError, render_default_config};

use crate::block::{self, BlockState, MarkerError};
use crate::content::{self, GeneratedFile};
use crate::stamp::{self, CommentStyle, Provenance};

/// What `orca init` is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct InitOptions<'a> {
    /// The repository's top-level directory.
    pub root: &'a Path,
    /// orca's version, written into the block's begin marker.
    pub version: &'a str,
    /// Overwrite generated files the user has changed.
    pub force: bool,
}

/// Whether a file holds orca's block among the user's text, or is wholly orca's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    ManagedBlock,
    Generated,
}

/// What happens (or would happen) to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Unchanged,
    /// Left alone because the user changed it (and `force` was not given).
    Skip,
}

/// Why a file is updated, skipped, or reported beside another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The file has no orca block yet.
    NoBlock,
    /// The block was written by another orca version.
    BlockOfVersion(String),
    /// The block's text differs from this orca's (edited inside the markers).
    BlockEdited,
    /// The file is as another orca version generated it.
    GeneratedByOtherVersion,
    /// The user changed the file; `force` overwrites it.
    Forced,
    /// The user changed the file, so it is left alone.
    ChangedByUser,
    /// A symlink to a file earlier in the list; that entry covers both.
    SameFileAs(String),
}

/// One file and what `orca init` does to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Relative to the repository root, `/`-separated.
    pub path: String,
    pub kind: FileKind,
    pub action: Action,
    /// Why it is updated or skipped.
    pub reason: Option<Reason>,
    /// The new content, when the action writes.
    contents: Option<String>,
    /// Where to write: the file itself, or what its symlink points to.
    target: PathBuf,
}

/// Why `orca init` could not decide or finish.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not UTF-8 text, so orca cannot place its block in it")]
    NotText { path: String },
    #[error("{path}: {source}")]
    Markers {
        path: String,
        #[source]
        source: MarkerError,
    },
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Every file `orca init` manages, with what it will do to each.
#[derive(Debug, Clone)]
pub struct InitPlan {
    root: PathBuf,
    files: Vec<FileChange>,
}

impl InitPlan {
    /// Reads the repository and decides what to do; writes nothing.
    pub fn new(options: InitOptions<'_>) -> Result<InitPlan, InitError> {
        let mut files = Vec::new();
        for path in content::BLOCK_FILES {
            files.push(plan_block(options, path, &files)?);
        }
        let config = render_default_config();
        let generated = content::SUBAGENTS.iter().chain(content::COMMANDS.iter()).copied().chain([
            GeneratedFile { path: content::CONFIG_PATH, body: &config, style: CommentStyle::Hash },
        ]);
        for file in generated {
            files.push(plan_generated(options, file)?);
        }
        Ok(InitPlan { root: options.root.to_owned(), files })
    }

    /// Every file, in a stable order: blocks, subagents, commands, config.
    pub fn files(&self) -> &[FileChange] {
        &self.files
    }

    /// True when running init would write nothing (skipped files do not count:
    /// init leaves them alone on purpose).
    pub fn is_current(&self) -> bool {
        self.files.iter().all(|file| matches!(file.action, Action::Unchanged | Action::Skip))
    }

    /// Writes every created or updated file. Each file is replaced atomically
    /// (written beside it, then renamed over it), keeping its permissions.
    pub fn apply(&self) -> Result<(), InitError> {
        Layout::new(&self.root).ensure()?;
        for file in &self.files {
            if let Some(contents) = &file.contents {
                write_atomically(&file.target, contents)
                    .map_err(|source| InitError::Write { path: file.path.clone(), source })?;
            }
        }
        Ok(())
    }
}

fn plan_block(
    options: InitOptions<'_>,
    path: &str,
    earlier: &[FileChange],
) -> Result<FileChange, InitError> {
    let location = options.root.join(path);
    let target = fs::canonicalize(&location).unwrap_or_else(|_| location.clone());
    // AGENTS.md is often a symlink to CLAUDE.md: one file, one block.
    if let Some(same) = earlier.iter().find(|file| file.target == target) {
        return Ok(FileChange {
            path: path.to_owned(),
            kind: FileKind::ManagedBlock,
            action: same.action,
            reason: Some(Reason::SameFileAs(same.path.clone())),
            contents: None,
            target,
        });
    }
    let existing = read(&location, path)?;
    let existing = match existing {
        None => None,
        Some(bytes) => Some(
            String::from_utf8(bytes).map_err(|_| InitError::NotText { path: path.to_owned() })?,
        ),
    };
    let spliced = block::splice(existing.as_deref(), options.version, content::MANAGED_BLOCK)
        .map_err(|source| InitError::Markers { path: path.to_owned(), source })?;
    let (action, reason) = match (&spliced.state, &existing) {
        (BlockState::Current, _) => (Action::Unchanged, None),
        (BlockState::Missing, None) => (Action::Create, None),
        (BlockState::Missing, Some(_)) => (Action::Update, Some(Reason::NoBlock)),
        (BlockState::Stale { version: Some(found) }, _) if found != options.version => {
            (Action::Update, Some(Reason::BlockOfVersion(found.clone())))
        }
        (BlockState::Stale { .. }, _) => (Action::Update, Some(Reason::BlockEdited)),
    };
    let contents = (action != Action::Unchanged).then_some(spliced.text);
    Ok(FileChange {
        path: path.to_owned(),
        kind: FileKind::ManagedBlock,
        action,
        reason,
        contents,
        target,
    })
}

fn plan_generated(
    options: InitOptions<'_>,
    file: GeneratedFile<'_>,
) -> Result<FileChange, InitError> {
    let location = options.root.join(file.path);
    let target = fs::canonicalize(&location).unwrap_or_else(|_| location.clone());
    let wanted = stamp::stamp(file.body, file.style);
    let existing = read(&location, file.path)?;
    let (action, reason) = match existing.map(String::from_utf8) {
        None => (Action::Create, None),
        Some(Ok(text)) if stamp::same_text(&text, &wanted) => (Action::Unchanged, None),
        Some(Ok(text)) if stamp::provenance(&text) == Provenance::Generated => {
            (Action::Update, Some(Reason::GeneratedByOtherVersion))
        }
        Some(_) if options.force => (Action::Update, Some(Reason::Forced)),
        Some(_) => (Action::Skip, Some(Reason::ChangedByUser)),
    };
    let contents = matches!(action, Action::Create | Action::Update).then_some(wanted);
    Ok(FileChange {
        path: file.path.to_owned(),
        kind: FileKind::Generated,
        action,
        reason,
        contents,
        target,
    })
}

/// The file's bytes, or None when it does not exist.
fn read(location: &Path, path: &str) -> Result<Option<Vec<u8>>, InitError> {
    match fs::read(location) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(InitError::Read { path: path.to_owned(), source }),
    }
}

fn write_atomically(target: &Path, contents: &str) -> io::Result<()> {
    let parent = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent)?;
    let permissions = fs::metadata(target).ok().map(|metadata| metadata.permissions());
    let name = target.file_name().map(|name| name.to_string_lossy()).unwrap_or_default();
    let temporary = parent.join(format!(".{name}.orca-init.{}", std::process::id()));
    let written = fs::write(&temporary, contents)
        .and_then(|()| match permissions {
            Some(permissions) => fs::set_permissions(&temporary, permissions),
            None => Ok(()),
        })
        .and_then(|()| fs::rename(&temporary, target));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}
