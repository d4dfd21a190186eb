//! Git integration: `git-setup` configures the repository's drivers,
//! `git-textconv` is the diff driver (plaintext for whoever holds a key, the
//! file unchanged for whoever does not) and `git-merge` the merge driver
//! (`ksec_sops::merge::merge`: conflicts confined to `mac`/`lastmodified` or to
//! values changed on one side disappear; a real conflict leaves our side,
//! still encrypted, in the work tree).
//!
//! `git-setup` never sets `diff.<driver>.cachetextconv`: git would store the
//! decrypted text in `refs/notes/textconv`, where it could be pushed.
use super::{keyring, Common};
use crate::io;
use anyhow::{anyhow, bail, Context, Result};
use ksec_sops::merge::{merge, MergeOutcome};
use ksec_sops::{Config, EmitOptions, Error, Format};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The name of the diff and merge drivers in git's configuration and
/// `.gitattributes`.
const DRIVER: &str = "ksec-sops";

/// Runs git in `dir`, returning its trimmed standard output.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("cannot run git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Single-quotes a word for the shell git runs drivers with.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `ksec sops git-setup [--pattern GLOB]...`.
pub(super) fn setup(c: &Common, patterns: &[String]) -> Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    let root = PathBuf::from(
        git(&cwd, &["rev-parse", "--show-toplevel"])
            .context("git-setup configures a git repository: run it inside one")?,
    );
    let globs = if patterns.is_empty() {
        derive_globs(c, &cwd, &root)?
    } else {
        patterns.to_vec()
    };
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let exe = shell_quote(&exe.to_string_lossy());
    let set = |k: &str, v: &str| git(&root, &["config", "--local", k, v]);
    set(
        &format!("diff.{DRIVER}.textconv"),
        &format!("{exe} sops git-textconv"),
    )?;
    // Never cache: the cache is the plaintext, kept in refs/notes/textconv.
    let _ = git(
        &root,
        &[
            "config",
            "--local",
            "--unset-all",
            &format!("diff.{DRIVER}.cachetextconv"),
        ],
    );
    set(
        &format!("merge.{DRIVER}.name"),
        "ksec: merge SOPS files by their decrypted content",
    )?;
    set(
        &format!("merge.{DRIVER}.driver"),
        &format!("{exe} sops git-merge %O %A %B %P"),
    )?;
    let attributes = root.join(".gitattributes");
    let text = std::fs::read_to_string(&attributes).unwrap_or_default();
    let (text, added) = ksec_sops::git::add_attributes(&text, &globs, DRIVER);
    io::write_atomic(&attributes, text.as_bytes(), 0o644)?;
    eprintln!(
        "configured the {DRIVER} diff and merge drivers in {}",
        root.join(".git/config").display()
    );
    for l in &added {
        eprintln!("added to .gitattributes: {l}");
    }
    if added.is_empty() {
        eprintln!(".gitattributes already selects these files");
    }
    Ok(ExitCode::SUCCESS)
}

/// Globs for the `.sops.yaml` creation rules, relative to the repository root.
fn derive_globs(c: &Common, cwd: &Path, root: &Path) -> Result<Vec<String>> {
    let config = Config::find(c.config.as_deref(), cwd)?.context(
        "no .sops.yaml to derive the encrypted files from: pass --pattern GLOB (e.g. --pattern 'secrets/**')",
    )?;
    ksec_sops::git::gitattributes_globs(&config, root).map_err(|e| match e {
        Error::PathRuleNotGlob { .. } => {
            anyhow!("{e}; pass --pattern GLOB for the files it selects")
        }
        Error::NoCreationRules { .. } => anyhow!("{e}: pass --pattern GLOB"),
        e => e.into(),
    })
}

/// `ksec sops git-textconv FILE`: the plaintext when a key opens the file,
/// else the file as it is (also for files that are not SOPS files).
pub(super) fn textconv(file: &Path) -> Result<ExitCode> {
    use std::io::Write;
    let input = io::read_file(file)?;
    let format = Format::from_path(file);
    let keys = keyring(&Common::default());
    let plain = ksec_sops::git::textconv(&input, format, &keys);
    let mut out = std::io::stdout().lock();
    match plain {
        Some(p) => out.write_all(&p)?,
        None => out.write_all(&input)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `ksec sops git-merge BASE OURS THEIRS PATH` (git's `%O %A %B %P`): writes
/// the merge into OURS and exits 0, or leaves OURS as it was and exits 1.
pub(super) fn merge_driver(
    base: &Path,
    ours: &Path,
    theirs: &Path,
    path: &Path,
) -> Result<ExitCode> {
    let format = Format::from_path(path);
    let ours_bytes = io::read_file(ours)?;
    if !ksec_sops::is_encrypted(&ours_bytes, format) {
        // Not a SOPS file after all: git's own text merge.
        let st = Command::new("git")
            .args(["merge-file", "-L", "ours", "-L", "base", "-L", "theirs"])
            .arg(ours)
            .arg(base)
            .arg(theirs)
            .status()
            .context("cannot run git merge-file")?;
        return Ok(ExitCode::from(if st.success() { 0 } else { 1 }));
    }
    let base_bytes = io::read_file(base)?;
    let theirs_bytes = io::read_file(theirs)?;
    let keys = keyring(&Common::default());
    let cwd = std::env::current_dir().unwrap_or_default();
    let config = Config::find(None, &cwd).ok().flatten();
    let emit = EmitOptions::resolve(None, config.as_ref(), format);
    let base_opt = (!base_bytes.is_empty()).then_some(base_bytes.as_slice());
    match merge(base_opt, &ours_bytes, &theirs_bytes, format, &keys, &emit) {
        Ok(MergeOutcome::Merged(out)) => {
            io::write_atomic(ours, &out, 0o600)?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(MergeOutcome::Conflict(c)) => {
            eprintln!(
                "{}: merge conflict: {c}; the file keeps our side, encrypted (resolve it with `ksec sops edit {}`)",
                path.display(),
                path.display()
            );
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!(
                "{}: cannot merge by content ({e}); the file keeps our side, encrypted",
                path.display()
            );
            Ok(ExitCode::from(1))
        }
    }
}
