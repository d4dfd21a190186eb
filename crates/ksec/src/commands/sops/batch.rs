//! Many files at once: `decrypt`, `updatekeys`, `rotate` and `filestatus` given
//! a directory. Files are found recursively, skipping what git ignores (inside
//! a work tree git itself lists them: `git ls-files --cached --others
//! --exclude-standard`, so `.gitignore`, `.git/info/exclude` and the global
//! excludes mean what they mean to git) and, when a `.sops.yaml` has creation
//! rules with `path_regex`, files no rule matches. Files without sops metadata
//! are skipped. Work runs on every core; each file is written atomically (a
//! temporary file renamed over it), so a failure in one never leaves another
//! half-written. A summary ends the run: files changed, unchanged, skipped and
//! failed, with the reason for each failure.
use super::rekey::{self, Updated};
use super::{emit_options, formats, keyring, shown, Common};
use crate::io;
use anyhow::{anyhow, bail, Context, Result};
use ksec_sops::{Config, EmitOptions, Format, Keyring, LockedFile, MacCheck};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What happened to one file.
enum Status {
    Changed,
    Unchanged,
    Skipped,
}

/// The files of `dir` a batch works on, relative to `dir`, sorted.
fn collect(dir: &Path, config: Option<&Config>) -> Result<Vec<PathBuf>> {
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
    let out = std::process::Command::new("git")
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
        .stderr(std::process::Stdio::null())
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

/// Every regular file under `dir` (symbolic links not followed, `.git` left out).
fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let here = root.join(rel);
    for entry in
        std::fs::read_dir(&here).with_context(|| format!("cannot read {}", here.display()))?
    {
        let entry = entry?;
        let t = entry.file_type()?;
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

/// Runs `op` on every file, on every core, with a progress line on a
/// terminal; returns the results in file order.
fn run_all<F>(dir: &Path, files: &[PathBuf], op: F) -> Vec<Result<Status>>
where
    F: Fn(&Path) -> Result<Status> + Sync,
{
    let results: Vec<Mutex<Option<Result<Status>>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let progress = std::io::stderr().is_terminal() && files.len() > 1;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(files.len())
        .max(1);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(rel) = files.get(i) else { break };
                let r = op(&dir.join(rel));
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(r);
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if progress {
                    eprint!("\r\x1b[K[{n}/{}] {}", files.len(), rel.display());
                }
            });
        }
    });
    if progress {
        eprint!("\r\x1b[K");
    }
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(anyhow!("not processed")))
        })
        .collect()
}

/// Prints the summary; non-zero when a file failed.
fn summary(verb: &str, dir: &Path, files: &[PathBuf], results: &[Result<Status>]) -> ExitCode {
    let (mut changed, mut unchanged, mut skipped) = (0, 0, 0);
    let mut failed = Vec::new();
    for (rel, r) in files.iter().zip(results) {
        match r {
            Ok(Status::Changed) => changed += 1,
            Ok(Status::Unchanged) => unchanged += 1,
            Ok(Status::Skipped) => skipped += 1,
            Err(e) => failed.push((dir.join(rel), e)),
        }
    }
    eprintln!(
        "{verb} {}: {changed} changed, {unchanged} unchanged, {skipped} skipped (not SOPS files), {} failed",
        dir.display(),
        failed.len()
    );
    for (path, e) in &failed {
        eprintln!("  failed: {}: {e:#}", path.display());
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::exit::ERROR)
    }
}

/// Parses a file as SOPS, or says it is not one.
fn locked(c: &Common, path: &Path, input: &[u8]) -> Result<Option<(LockedFile, Format)>> {
    let (inf, _) = formats(c, Some(path))?;
    match LockedFile::parse(input, inf) {
        Ok(l) => Ok(Some((l, inf))),
        Err(ksec_sops::Error::MetadataNotFound) => Ok(None),
        // A file that is not in its format at all is not a SOPS file either,
        // unless it visibly tries to be one.
        Err(ksec_sops::Error::Parse { .. }) if !looks_encrypted(input) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn looks_encrypted(input: &[u8]) -> bool {
    input.windows(15).any(|w| w == b"ENC[AES256_GCM,")
}

/// Warns when plaintext is about to land inside a git work tree, not ignored.
fn warn_if_tracked(target: &Path) {
    let probe = if target.is_dir() {
        target.join(".ksec-probe")
    } else {
        target.to_path_buf()
    };
    let dir = probe.parent().unwrap_or(Path::new("."));
    let inside = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--is-inside-work-tree"])
        .stderr(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"true"));
    if !inside {
        return;
    }
    let ignored = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["check-ignore", "-q", "--"])
        .arg(probe.file_name().unwrap_or_default())
        .status()
        .is_ok_and(|s| s.success());
    if !ignored {
        eprintln!(
            "warning: {} is inside a git work tree and not ignored: decrypted files could be committed (add it to .gitignore)",
            target.display()
        );
    }
}

fn load_config(c: &Common, dir: &Path) -> Result<Option<Config>> {
    Ok(Config::find(c.config.as_deref(), dir)?)
}

/// `decrypt DIR --output-dir OUT` or `decrypt -i DIR`.
pub(super) fn decrypt_dir(c: &Common, dir: &Path, output_dir: Option<&Path>) -> Result<ExitCode> {
    if output_dir.is_none() && !c.in_place {
        bail!(
            "{} is a directory: pass --output-dir DIR (or -i to decrypt the files in place)",
            dir.display()
        );
    }
    if c.extract.is_some() {
        bail!("--extract works on one file, not a directory");
    }
    let config = load_config(c, dir)?;
    let files = collect(dir, config.as_ref())?;
    match output_dir {
        Some(out) => {
            std::fs::create_dir_all(out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            warn_if_tracked(out);
        }
        None => warn_if_tracked(dir),
    }
    let keys = keyring(c);
    let emit = |f: Format| EmitOptions::resolve(c.indent, config.as_ref(), f);
    let results = run_all(dir, &files, |path| {
        let input = io::read_file(path)?;
        let Some((locked, inf)) = locked(c, path, &input)? else {
            return Ok(Status::Skipped);
        };
        let (_, outf) = formats(c, Some(path))?;
        let open = locked
            .open(&keys, super::mac_check(c))
            .with_context(|| shown(Some(path)))?;
        let plain = open.to_plaintext(
            if c.output_type.is_some() { outf } else { inf },
            &emit(outf),
        )?;
        let target = match output_dir {
            Some(out) => out.join(path.strip_prefix(dir).unwrap_or(path)),
            None => path.to_path_buf(),
        };
        crate::io::write_private(&target, &plain)?;
        Ok(Status::Changed)
    });
    Ok(summary("decrypt", dir, &files, &results))
}

/// `filestatus DIR`: one JSON line per file.
pub(super) fn filestatus_dir(c: &Common, dir: &Path) -> Result<ExitCode> {
    let config = load_config(c, dir)?;
    let files = collect(dir, config.as_ref())?;
    for rel in &files {
        let path = dir.join(rel);
        let (inf, _) = formats(c, Some(&path))?;
        let encrypted = io::read_file(&path)
            .map(|b| ksec_sops::is_encrypted(&b, inf))
            .unwrap_or(false);
        println!(
            "{{\"file\":{},\"encrypted\":{encrypted}}}",
            serde_json::Value::String(path.display().to_string())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `rotate -i DIR`: a new data key for every file.
pub(super) fn rotate_dir(c: &Common, dir: &Path, flags: &rekey::RotateFlags) -> Result<ExitCode> {
    if !c.in_place {
        bail!(
            "{} is a directory: pass -i to rotate its files in place",
            dir.display()
        );
    }
    let config = load_config(c, dir)?;
    let files = collect(dir, config.as_ref())?;
    let keys = keyring(c);
    let changes = flags.changes(c)?;
    let results = run_all(dir, &files, |path| {
        let input = io::read_file(path)?;
        let Some((locked, _)) = locked(c, path, &input)? else {
            return Ok(Status::Skipped);
        };
        let groups = if changes.is_empty() {
            None
        } else {
            Some(changes.apply(locked.metadata().recipients()?))
        };
        let out = locked
            .open(&keys, MacCheck::Verify)
            .and_then(|o| o.rotate(groups, &keys, &emit_options(c)))
            .with_context(|| shown(Some(path)))?;
        io::write_atomic(path, &out, 0o600)?;
        Ok(Status::Changed)
    });
    if !changes.remove.is_empty() {
        eprintln!(
            "removed keys: every file got a new data key and its values were encrypted again"
        );
    }
    Ok(summary("rotate", dir, &files, &results))
}

/// `updatekeys DIR`: the `.sops.yaml` keys for every file; asks once.
pub(super) fn updatekeys_dir(c: &Common, dir: &Path, yes: bool) -> Result<ExitCode> {
    let config =
        load_config(c, dir)?.context("updatekeys needs a .sops.yaml (none found; use --config)")?;
    let files = collect(dir, Some(&config))?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "not a terminal: pass -y to update the keys of the files in {}",
                dir.display()
            );
        }
        eprint!(
            "Update the keys of up to {} files in {} to what .sops.yaml names now? (y/n): ",
            files.len(),
            dir.display()
        );
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !line.trim().eq_ignore_ascii_case("y") {
            eprintln!("changes not applied");
            return Ok(ExitCode::from(super::exit::ERROR));
        }
    }
    let keys: Keyring = keyring(c);
    let results = run_all(dir, &files, |path| {
        let input = io::read_file(path)?;
        let Some((locked, _)) = locked(c, path, &input)? else {
            return Ok(Status::Skipped);
        };
        let (groups, threshold, changes) = rekey::rule_changes(c, path, &locked)?;
        if changes.up_to_date {
            return Ok(Status::Unchanged);
        }
        let (out, what) = rekey::apply_rule(c, locked, &groups, threshold, &changes, &keys)
            .with_context(|| shown(Some(path)))?;
        io::write_atomic(path, &out, 0o600)?;
        if let Updated::Rekeyed(removed) = what {
            eprintln!(
                "{}: removed {}; new data key, every value encrypted again",
                path.display(),
                removed.join(", ")
            );
        }
        Ok(Status::Changed)
    });
    Ok(summary("updatekeys", dir, &files, &results))
}
