//! `edit`, `exec-env` and `exec-file`: commands that put plaintext somewhere for a
//! while. Buffers are `ksec_sops::buffer::PlainBuffer`s: a private 0700 folder
//! named after this process, removed on every exit path (this module adds
//! SIGINT/SIGTERM/SIGHUP); folders of dead processes are swept on the next run.
use super::{emit_options, exit, formats, keyring, mac_check, shown, Common};
use crate::io;
use anyhow::{bail, Context, Result};
use ksec_sops::buffer::PlainBuffer;
use ksec_sops::{Document, LockedFile};
use std::path::Path;
use std::process::ExitCode;

pub(super) fn edit(c: &Common, file: &Path) -> Result<ExitCode> {
    let (inf, _) = formats(c, Some(file))?;
    let keys = keyring(c);
    let emit = emit_options(c);
    // An existing file is decrypted; a new one starts from sops's example.
    let existing = if file.exists() {
        let input = io::read_file(file)?;
        Some(
            LockedFile::parse(&input, inf)
                .and_then(|l| l.open(&keys, mac_check(c)))
                .with_context(|| shown(Some(file)))?,
        )
    } else {
        None
    };
    let plain = match &existing {
        Some(o) => o.to_plaintext(inf, &emit)?,
        None => Document::sops_example().emit(inf, &emit)?,
    };
    let Some(doc) = run_editor(file, &plain, |b| Document::parse(b, inf))? else {
        eprintln!("file unchanged, not re-encrypting");
        return Ok(ExitCode::from(exit::FILE_UNCHANGED));
    };
    let out = match existing {
        Some(mut o) => {
            o.replace_document(doc);
            o.seal(&emit)?
        }
        None => super::encryptor(c, Some(file), inf)?.encrypt_document(doc, inf, &keys)?,
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
    parse: impl Fn(&[u8]) -> Result<Document, ksec_sops::Error>,
) -> Result<Option<Document>> {
    use std::io::IsTerminal;
    let buffer = PlainBuffer::create(file.file_name().unwrap_or_default(), plain)?;
    remove_on_signal(buffer.dir());
    let buf = buffer.path();
    let editor = std::env::var("SOPS_EDITOR")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    loop {
        let status = ksec_sops::buffer::editor_command(&editor, buf)
            .status()
            .with_context(|| format!("cannot run the editor {editor:?}"))?;
        if !status.success() {
            bail!("the editor exited with {status}; the file is unchanged");
        }
        let edited = buffer.read()?;
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

fn child_code(st: std::process::ExitStatus) -> ExitCode {
    ExitCode::from(st.code().map_or(exit::ERROR, |c| c as u8))
}

pub(super) fn exec_env(c: &Common, file: &Path, command: &str, pristine: bool) -> Result<ExitCode> {
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let open = LockedFile::parse(&input, inf)
        .and_then(|l| l.open(&keyring(c), mac_check(c)))
        .with_context(|| shown(Some(file)))?;
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(command);
    if pristine {
        cmd.env_clear();
    }
    for (name, text) in open.document().environment() {
        cmd.env(name, text.as_str());
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
    let open = LockedFile::parse(&input, inf)
        .and_then(|l| l.open(&keyring(c), mac_check(c)))
        .with_context(|| shown(Some(file)))?;
    let plain = open.to_plaintext(outf, &emit_options(c))?;
    let buffer = PlainBuffer::create(filename.unwrap_or("tmp-file"), &plain)?;
    remove_on_signal(buffer.dir());
    let path = buffer.path();
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
    drop(buffer);
    Ok(child_code(st))
}
