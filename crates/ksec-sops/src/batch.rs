//! Many files at once: which files of a directory a batch command works on, a
//! runner that works on them on every core, and the summary of what happened.
//!
//! Files are found recursively, skipping what git ignores: inside a work tree
//! git itself lists them (`git ls-files --cached --others --exclude-standard`,
//! so `.gitignore`, `.git/info/exclude` and the global excludes mean what they
//! mean to git); elsewhere a walk of the folder that leaves `.git` out and does
//! not follow symbolic links. `.sops.yaml` is never one of them, and when the
//! `.sops.yaml` has creation rules with `path_regex`, neither are the files no
//! rule matches.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ksec_sops::batch::{self, Status, Summary};
//!
//! let dir = std::env::temp_dir().join(format!("ksec-sops-batch-doc-{}", std::process::id()));
//! std::fs::create_dir_all(dir.join("app"))?;
//! for name in ["app/a.yaml", "b.yaml", ".sops.yaml"] {
//!     std::fs::write(dir.join(name), "a: 1\n")?;
//! }
//! let files = batch::files_under(&dir, None)?;
//! assert_eq!(files, ["app/a.yaml", "b.yaml"].map(std::path::PathBuf::from));
//!
//! // Every file is looked at, on every core (here none is a SOPS file).
//! let results = batch::run(&dir, &files, |path| {
//!     let input = std::fs::read(path).unwrap_or_default();
//!     Ok::<_, ksec_sops::Error>(match batch::parse_if_sops(&input, ksec_sops::Format::Yaml)? {
//!         Some(_) => Status::Changed,
//!         None => Status::Skipped,
//!     })
//! }, |_progress| {});
//! let summary = Summary::of(&dir, &files, &results);
//! assert_eq!((summary.skipped, summary.failed.len()), (2, 0));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```
use crate::{Config, Error, Format, LockedFile};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// What happened to one file of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The file was written.
    Changed,
    /// The file was already as asked (e.g. its keys were those of `.sops.yaml`).
    Unchanged,
    /// The file is not a SOPS file.
    Skipped,
}

/// The files of `dir` a batch works on, relative to `dir`, sorted: what git
/// shows there (tracked or not, not ignored) inside a work tree, else every
/// regular file below it (`.git` left out, symbolic links not followed);
/// never `.sops.yaml`/`.sops.yml`; and, when `config` has creation rules with
/// `path_regex`, only the files a rule matches.
pub fn files_under(dir: &Path, config: Option<&Config>) -> Result<Vec<PathBuf>, Error> {
    let mut files = match git_files(dir) {
        Some(f) => f,
        None => {
            let mut out = Vec::new();
            walk(dir, Path::new(""), &mut out)?;
            out
        }
    };
    files.retain(|rel| {
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == ".sops.yaml" || name == ".sops.yml" {
            return false;
        }
        match config {
            Some(c) if c.has_path_rules() => c.rule_for(&dir.join(rel)).is_some(),
            _ => true,
        }
    });
    files.sort();
    files.dedup();
    Ok(files)
}

/// The files git would show under `dir` (tracked or not, not ignored), or
/// `None` outside a work tree or without git.
fn git_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            ".",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        out.stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            .filter(|p| dir.join(p).is_file())
            .collect(),
    )
}

/// Every regular file under `root/rel`, relative to `root`.
fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let here = root.join(rel);
    let read = |e| Error::io("read", &here, e);
    for entry in std::fs::read_dir(&here).map_err(read)? {
        let entry = entry.map_err(read)?;
        let t = entry.file_type().map_err(read)?;
        let name = entry.file_name();
        let path = rel.join(&name);
        if t.is_dir() {
            if name != ".git" {
                walk(root, &path, out)?;
            }
        } else if t.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// How far a [`run`] has got, for a progress line.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// Files finished so far, this one included.
    pub done: usize,
    /// Files in the batch.
    pub total: usize,
    /// The file just finished, relative to the batch's folder.
    pub file: &'a Path,
}

/// Runs `op` on every file (`dir` joined with each of `files`), on every core,
/// calling `progress` as each finishes; returns the results in the order of
/// `files`. A panic in `op` is raised again here once the other workers stop.
pub fn run<R, F, P>(dir: &Path, files: &[PathBuf], op: F, progress: P) -> Vec<R>
where
    R: Send,
    F: Fn(&Path) -> R + Sync,
    P: Fn(Progress<'_>) + Sync,
{
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(files.len())
        .max(1);
    // Each worker takes the next file and keeps its own (index, result) list;
    // the lists are put back in file order at the end, so no lock is needed.
    let mut results: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(rel) = files.get(i) else { break };
                        mine.push((i, op(&dir.join(rel))));
                        progress(Progress {
                            done: done.fetch_add(1, Ordering::Relaxed) + 1,
                            total: files.len(),
                            file: rel,
                        });
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// What a batch did: files changed, unchanged, skipped (not SOPS files) and
/// failed, each failure with its file (the batch folder joined with the
/// relative name) and error.
#[derive(Debug)]
pub struct Summary<'a, E> {
    /// Files written.
    pub changed: usize,
    /// Files already as asked.
    pub unchanged: usize,
    /// Files that are not SOPS files.
    pub skipped: usize,
    /// Files that failed, in file order.
    pub failed: Vec<(PathBuf, &'a E)>,
}

impl<'a, E> Summary<'a, E> {
    /// Counts the results of [`run`] over `files` of `dir`.
    pub fn of(dir: &Path, files: &[PathBuf], results: &'a [Result<Status, E>]) -> Self {
        let mut s = Summary {
            changed: 0,
            unchanged: 0,
            skipped: 0,
            failed: Vec::new(),
        };
        for (rel, r) in files.iter().zip(results) {
            match r {
                Ok(Status::Changed) => s.changed += 1,
                Ok(Status::Unchanged) => s.unchanged += 1,
                Ok(Status::Skipped) => s.skipped += 1,
                Err(e) => s.failed.push((dir.join(rel), e)),
            }
        }
        s
    }

    /// True if no file failed.
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Parses a file of a batch as SOPS, or `None` when it is not one: it has no
/// `sops` metadata, or it is not in its format at all and does not visibly try
/// to be a SOPS file (no `ENC[AES256_GCM,` value). A damaged SOPS file is an
/// error.
pub fn parse_if_sops(input: &[u8], format: Format) -> Result<Option<LockedFile>, Error> {
    match LockedFile::parse(input, format) {
        Ok(l) => Ok(Some(l)),
        Err(Error::MetadataNotFound) => Ok(None),
        Err(Error::Parse { .. }) if !looks_encrypted(input) => Ok(None),
        Err(e) => Err(e),
    }
}

/// True if `input` holds a sops encrypted value anywhere.
fn looks_encrypted(input: &[u8]) -> bool {
    input.windows(15).any(|w| w == b"ENC[AES256_GCM,")
}

/// True if plaintext written to `target` (a file, or a folder for many files)
/// would land inside a git work tree without git ignoring it, so that it could
/// be committed. False outside a work tree, or without git.
pub fn exposed_to_git(target: &Path) -> bool {
    let probe = if target.is_dir() {
        target.join(".ksec-probe")
    } else {
        target.to_path_buf()
    };
    let dir = probe.parent().unwrap_or(Path::new("."));
    let inside = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--is-inside-work-tree"])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"true"));
    if !inside {
        return false;
    }
    let ignored = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["check-ignore", "-q", "--"])
        .arg(probe.file_name().unwrap_or_default())
        .status()
        .is_ok_and(|s| s.success());
    !ignored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_encrypted_finds_a_sops_value() {
        assert!(looks_encrypted(b"a: ENC[AES256_GCM,data:x]\n"));
        assert!(!looks_encrypted(b"a: ENC[AES256_GCM\n"));
    }

    #[test]
    fn run_keeps_file_order_and_reports_every_file() {
        let files: Vec<PathBuf> = (0..50).map(|i| PathBuf::from(format!("{i}"))).collect();
        let seen = AtomicUsize::new(0);
        let out = run(
            Path::new("/d"),
            &files,
            |p| p.to_path_buf(),
            |p| {
                assert_eq!(p.total, 50);
                seen.fetch_add(1, Ordering::Relaxed);
            },
        );
        assert_eq!(seen.load(Ordering::Relaxed), 50);
        let want: Vec<PathBuf> = files.iter().map(|f| Path::new("/d").join(f)).collect();
        assert_eq!(out, want);
        assert!(run(Path::new("/d"), &[], |p| p.to_path_buf(), |_| {}).is_empty());
    }

    #[test]
    fn summary_counts_each_status() {
        let files: Vec<PathBuf> = ["a", "b", "c", "d"].iter().map(PathBuf::from).collect();
        let results: Vec<Result<Status, &str>> = vec![
            Ok(Status::Changed),
            Ok(Status::Skipped),
            Err("bad"),
            Ok(Status::Unchanged),
        ];
        let s = Summary::of(Path::new("dir"), &files, &results);
        assert_eq!((s.changed, s.unchanged, s.skipped), (1, 1, 1));
        assert_eq!(s.failed, vec![(PathBuf::from("dir/c"), &"bad")]);
        assert!(!s.succeeded());
    }

    #[test]
    fn not_sops_files_are_skipped_and_damaged_ones_are_errors() {
        assert!(parse_if_sops(b"a: 1\n", Format::Yaml).unwrap().is_none());
        assert!(parse_if_sops(b"{not json", Format::Json).unwrap().is_none());
        assert!(parse_if_sops(b"{\"a\": \"ENC[AES256_GCM,data:x]\"", Format::Json).is_err());
    }
}
