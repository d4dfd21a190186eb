//! Many files at once: `decrypt`, `updatekeys`, `rotate` and `filestatus` given
//! a directory. Which files (what git shows, or a walk; the `.sops.yaml` path
//! rules), the parallel run and the summary counts are `ksec_sops::batch`'s;
//! this module says what to do with each file, shows progress on a terminal
//! and prints the summary. Files without sops metadata are skipped. Each file
//! is written atomically (a temporary file renamed over it), so a failure in
//! one never leaves another half-written. A summary ends the run: files
//! changed, unchanged, skipped and failed, with the reason for each failure.
use super::rekey;
use super::{emit_options, formats, keyring, load_config_from, shown, Common};
use crate::io;
use anyhow::{bail, Context, Result};
use ksec_sops::batch::{self, Status, Summary};
use ksec_sops::{EmitOptions, Format, Keyring, LockedFile, MacCheck, Rotation};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs `op` on every file, on every core, with a progress line on a
/// terminal; returns the results in file order.
fn run_all<F>(dir: &Path, files: &[PathBuf], op: F) -> Vec<Result<Status>>
where
    F: Fn(&Path) -> Result<Status> + Sync,
{
    let progress = std::io::stderr().is_terminal() && files.len() > 1;
    let results = batch::run(dir, files, op, |p| {
        if progress {
            eprint!("\r\x1b[K[{}/{}] {}", p.done, p.total, p.file.display());
        }
    });
    if progress {
        eprint!("\r\x1b[K");
    }
    results
}

/// Prints the summary; non-zero when a file failed.
fn summary(verb: &str, dir: &Path, files: &[PathBuf], results: &[Result<Status>]) -> ExitCode {
    let s = Summary::of(dir, files, results);
    eprintln!(
        "{verb} {}: {} changed, {} unchanged, {} skipped (not SOPS files), {} failed",
        dir.display(),
        s.changed,
        s.unchanged,
        s.skipped,
        s.failed.len()
    );
    for (path, e) in &s.failed {
        eprintln!("  failed: {}: {e:#}", path.display());
    }
    if s.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::exit::ERROR)
    }
}

/// Parses a file as SOPS, or says it is not one.
fn locked(c: &Common, path: &Path, input: &[u8]) -> Result<Option<(LockedFile, Format)>> {
    let (inf, _) = formats(c, Some(path))?;
    Ok(batch::parse_if_sops(input, inf)?.map(|l| (l, inf)))
}

/// Warns when plaintext is about to land inside a git work tree, not ignored.
fn warn_if_tracked(target: &Path) {
    if batch::exposed_to_git(target) {
        eprintln!(
            "warning: {} is inside a git work tree and not ignored: decrypted files could be committed (add it to .gitignore)",
            target.display()
        );
    }
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
    let config = load_config_from(c, dir)?;
    let files = batch::files_under(dir, config.as_ref())?;
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
    let config = load_config_from(c, dir)?;
    let files = batch::files_under(dir, config.as_ref())?;
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
    let config = load_config_from(c, dir)?;
    let files = batch::files_under(dir, config.as_ref())?;
    let keys = keyring(c);
    let changes = flags.changes(c)?;
    let results = run_all(dir, &files, |path| {
        let input = io::read_file(path)?;
        let Some((locked, _)) = locked(c, path, &input)? else {
            return Ok(Status::Skipped);
        };
        let rotation = Rotation::plan(&locked, &changes)?;
        let out = locked
            .open(&keys, MacCheck::Verify)
            .and_then(|o| rotation.apply(o, &keys, &emit_options(c)))
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
    let config = load_config_from(c, dir)?
        .context("updatekeys needs a .sops.yaml (none found; use --config)")?;
    let files = batch::files_under(dir, Some(&config))?;
    let question = format!(
        "Update the keys of up to {} files in {} to what .sops.yaml names now?",
        files.len(),
        dir.display()
    );
    let without_a_terminal = format!(
        "pass -y to update the keys of the files in {}",
        dir.display()
    );
    if !yes && !rekey::confirm(&question, &without_a_terminal)? {
        return Ok(ExitCode::from(super::exit::ERROR));
    }
    let keys: Keyring = keyring(c);
    let results = run_all(dir, &files, |path| {
        let input = io::read_file(path)?;
        let Some((locked, _)) = locked(c, path, &input)? else {
            return Ok(Status::Skipped);
        };
        let update = rekey::rule_changes(c, path, &locked)?;
        if update.is_up_to_date() {
            return Ok(Status::Unchanged);
        }
        rekey::apply_update(c, path, locked, update, &keys)?;
        Ok(Status::Changed)
    });
    Ok(summary("updatekeys", dir, &files, &results))
}
