//! File and stream plumbing shared by the commands: reading inputs, atomic writes
//! (temp file + rename, so an output is never half-written and an input never
//! half-overwritten).
use anyhow::{Context, Result};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// Where an input comes from.
#[derive(Clone, Debug)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Input {
    /// `-` or nothing means standard input.
    pub fn from_arg(arg: Option<&Path>) -> Self {
        match arg {
            None => Input::Stdin,
            Some(p) if p == Path::new("-") => Input::Stdin,
            Some(p) => Input::File(p.to_path_buf()),
        }
    }

    /// A name for messages.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "(stdin)".into(),
            Input::File(p) => p.display().to_string(),
        }
    }

    /// Reads it all. `tty_hint` is printed when standard input is a terminal.
    pub fn read(&self, tty_hint: &str) -> Result<Vec<u8>> {
        match self {
            Input::Stdin => {
                let mut stdin = std::io::stdin();
                if stdin.is_terminal() && !tty_hint.is_empty() {
                    eprintln!("{tty_hint}");
                }
                let mut buf = vec![];
                stdin
                    .read_to_end(&mut buf)
                    .context("reading standard input")?;
                Ok(buf)
            }
            Input::File(p) => read_file(p),
        }
    }
}

/// Reads a file, naming it in the error.
pub fn read_file(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
}

/// Writes `bytes` to `path` atomically: a temp file in the same folder, flushed, then
/// renamed over the target. `mode` applies to new files; an existing file keeps its mode.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(mode);
    replace(path, bytes, mode)
}

/// Writes plaintext atomically with mode 0600, whatever mode an earlier file had,
/// creating the folder if needed.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    replace(path, bytes, 0o600)
}

/// The temp file and rename behind [`write_atomic`] and [`write_private`].
fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut file = AtomicFile::create(path, mode)?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.commit()
}

/// A file written in pieces that appears at its path only when complete: a temporary
/// file in the same folder (created with `mode`), flushed and renamed over the target by
/// [`AtomicFile::commit`]. Dropped without a commit, it is removed and the target is
/// untouched.
pub struct AtomicFile {
    path: std::path::PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl AtomicFile {
    /// Starts the temporary file next to `path`.
    pub fn create(path: &Path, mode: u32) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".ksec-")
            .tempfile_in(dir)
            .with_context(|| {
                format!("cannot create a temporary file next to {}", path.display())
            })?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
        })
    }

    /// Flushes the file to disk and renames it over the target.
    pub fn commit(self) -> Result<()> {
        self.tmp.as_file().sync_all()?;
        self.tmp
            .persist(&self.path)
            .with_context(|| format!("cannot replace {}", self.path.display()))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tmp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tmp.flush()
    }
}

/// Writes to a file atomically, or to standard output.
pub fn emit(out: Option<&Path>, bytes: &[u8], mode: u32) -> Result<()> {
    match out {
        Some(p) if p != Path::new("-") => write_atomic(p, bytes, mode),
        _ => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes)?;
            stdout.flush()?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_existing_mode_and_leaves_no_temp_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.yaml");
        write_atomic(&p, b"one", 0o600).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
