//! `edit`, `exec-env` and `exec-file`: commands that put plaintext somewhere for a
//! while. Buffers live in a private 0700 folder named after this process, removed
//! on every exit path (also SIGINT/SIGTERM/SIGHUP); folders of dead processes are
//! swept on the next run.
use super::{exit, formats, keyring, Common};
use crate::io;
use anyhow::{bail, Context, Result};
use ksec_sops::file;
use ksec_sops::stores::{self, EmitOptions};
use ksec_sops::{Item, Value};
use std::path::Path;
use std::process::ExitCode;

const BUFFER_PREFIX: &str = "ksec-sops-edit-";

pub(super) fn edit(c: &Common, file: &Path) -> Result<ExitCode> {
    let (inf, _) = formats(c, Some(file))?;
    if !file.exists() {
        bail!("{} does not exist (creating new files in the editor is not supported yet; write it and run encrypt)", file.display());
    }
    let input = io::read_file(file)?;
    let kr = keyring(c);
    let mut o = file::open(inf, &input, &kr, c.ignore_mac)?;
    let plain = zeroize::Zeroizing::new(stores::emit_plain(
        inf,
        &o.doc,
        EmitOptions { indent: c.indent },
    )?);
    // A private 0700 folder holds the buffer; dropping it removes it on every
    // return path, including editor failure.
    sweep_stale_buffers();
    let dir = tempfile::Builder::new()
        .prefix(&format!("{BUFFER_PREFIX}{}-", std::process::id()))
        .tempdir()?;
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    remove_on_signal(dir.path());
    let buf = dir.path().join(file.file_name().unwrap_or_default());
    std::fs::write(&buf, &*plain)?;
    let editor = std::env::var("SOPS_EDITOR")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&buf)
        .status()
        .with_context(|| format!("cannot run the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor exited with {status}; the file is unchanged");
    }
    let edited = zeroize::Zeroizing::new(std::fs::read(&buf)?);
    drop(dir);
    if *edited == *plain {
        eprintln!("file unchanged, not re-encrypting");
        return Ok(ExitCode::from(exit::FILE_UNCHANGED));
    }
    let mut doc = stores::load_plain(inf, &edited)?;
    let out = file::seal(
        &mut doc,
        o.metadata.clone(),
        &mut o.cipher,
        inf,
        EmitOptions { indent: c.indent },
    )?;
    io::write_atomic(file, &out, 0o600)?;
    Ok(ExitCode::SUCCESS)
}

/// On SIGINT, SIGTERM or SIGHUP while the editor runs, removes the buffer folder
/// and exits (130), so no plaintext stays on disk.
fn remove_on_signal(dir: &Path) {
    let dir = dir.to_path_buf();
    // Only one handler per process; a second edit in the same process keeps the first.
    let _ = ctrlc::set_handler(move || {
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("interrupted: the edit buffer was removed and the file left unchanged");
        std::process::exit(130);
    });
}

/// Removes edit buffers left by a ksec process that was killed (SIGKILL, power
/// loss): folders named after a process id that no longer runs.
fn sweep_stale_buffers() {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(BUFFER_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let alive = Path::new(&format!("/proc/{pid}")).exists();
        if !alive && e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn child_code(st: std::process::ExitStatus) -> ExitCode {
    ExitCode::from(st.code().map_or(exit::ERROR, |c| c as u8))
}

pub(super) fn exec_env(c: &Common, file: &Path, command: &str, pristine: bool) -> Result<ExitCode> {
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let o = file::open(inf, &input, &keyring(c), c.ignore_mac)?;
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(command);
    if pristine {
        cmd.env_clear();
    }
    for it in &o.doc.branches[0] {
        if let Item::Entry(k, v) = it {
            if let Some((b, _)) = ksec_sops::cipher::leaf_bytes(v) {
                let text = String::from_utf8_lossy(&b).into_owned();
                let text = if matches!(v, Value::Bool(_)) {
                    text.to_lowercase()
                } else {
                    text
                };
                cmd.env(k, text);
            }
        }
    }
    let st = cmd
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    Ok(child_code(st))
}

pub(super) fn exec_file(
    c: &Common,
    file: &Path,
    command: &str,
    filename: Option<&str>,
) -> Result<ExitCode> {
    let (inf, outf) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let o = file::open(inf, &input, &keyring(c), c.ignore_mac)?;
    let plain = zeroize::Zeroizing::new(stores::emit_plain(
        outf,
        &o.doc,
        EmitOptions { indent: c.indent },
    )?);
    sweep_stale_buffers();
    let dir = tempfile::Builder::new()
        .prefix(&format!("{BUFFER_PREFIX}{}-", std::process::id()))
        .tempdir()?;
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    remove_on_signal(dir.path());
    let path = dir.path().join(filename.unwrap_or("tmp-file"));
    std::fs::write(&path, &*plain)?;
    let cmdline = if command.contains("{}") {
        command.replace("{}", &path.to_string_lossy())
    } else {
        format!("{command} {}", path.to_string_lossy())
    };
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(&cmdline)
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    drop(dir);
    Ok(child_code(st))
}
