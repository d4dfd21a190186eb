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

/// sops's example for a new file.
const EXAMPLE_YAML: &str = "\
hello: Welcome to SOPS! Edit this file as you please!
example_key: example_value
# Example comment
example_array:
    - example_value1
    - example_value2
example_number: 1234.56789
example_booleans:
    - true
    - false
";

pub(super) fn edit(c: &Common, file: &Path) -> Result<ExitCode> {
    let (inf, _) = formats(c, Some(file))?;
    let kr = keyring(c);
    let emit = EmitOptions { indent: c.indent };
    // An existing file is decrypted; a new one starts from sops's example.
    let mut existing = if file.exists() {
        Some(file::open(inf, &io::read_file(file)?, &kr, c.ignore_mac)?)
    } else {
        None
    };
    let plain = zeroize::Zeroizing::new(match &existing {
        Some(o) => stores::emit_plain(inf, &o.doc, emit)?,
        None => {
            let example = stores::load_plain(ksec_sops::Format::Yaml, EXAMPLE_YAML.as_bytes())?;
            stores::emit_plain(inf, &example, emit)?
        }
    });
    let Some(mut doc) = run_editor(file, &plain, |b| stores::load_plain(inf, b))? else {
        eprintln!("file unchanged, not re-encrypting");
        return Ok(ExitCode::from(exit::FILE_UNCHANGED));
    };
    let out = match &mut existing {
        Some(o) => file::seal(&mut doc, o.metadata.clone(), &mut o.cipher, inf, emit)?,
        None => {
            let opts = super::encrypt_options(c, Some(file), inf)?;
            file::encrypt_document_for(doc, inf, &opts, &kr)?
        }
    };
    io::write_atomic(file, &out, 0o600)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `plain` to a private buffer, runs the editor on it, and parses the
/// result with `parse`, or returns `None` when nothing changed. When the edited
/// text does not parse and a terminal is attached, the editor opens again on the
/// same buffer (as sops does) so no edit is lost. The buffer is gone on return.
fn run_editor(
    file: &Path,
    plain: &[u8],
    parse: impl Fn(&[u8]) -> Result<ksec_sops::Document, ksec_sops::Error>,
) -> Result<Option<ksec_sops::Document>> {
    use std::io::IsTerminal;
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
    std::fs::write(&buf, plain)?;
    let editor = std::env::var("SOPS_EDITOR")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    loop {
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
        if *edited == plain {
            return Ok(None);
        }
        match parse(&edited) {
            Ok(doc) => return Ok(Some(doc)),
            Err(e) if std::io::stdin().is_terminal() => {
                eprintln!("error: {e}");
                eprintln!("Press Enter to return to the editor, or Ctrl-C to abandon the changes.");
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
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
