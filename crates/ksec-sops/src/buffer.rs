//! Plaintext that must sit in a file for a while (an editor's buffer, a
//! command's input): a private folder (0700) named after this process, removed
//! when the [`PlainBuffer`] is dropped. Folders left by processes that were
//! killed (SIGKILL, power loss) are swept when the next buffer is made. A
//! program that wants the folder gone on a signal too removes
//! [`PlainBuffer::dir`] from its signal handler (signal handling belongs to the
//! process, not to this crate).
//!
//! ```
//! # fn main() -> Result<(), ksec_sops::Error> {
//! use ksec_sops::buffer::PlainBuffer;
//!
//! let buffer = PlainBuffer::create("values.yaml", b"password: hunter2\n")?;
//! assert_eq!(buffer.read()?.as_slice(), b"password: hunter2\n");
//! let dir = buffer.dir().to_path_buf();
//! drop(buffer);
//! assert!(!dir.exists());
//! # Ok(()) }
//! ```
use crate::Error;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The start of every buffer folder's name, followed by the process id.
const PREFIX: &str = "ksec-sops-edit-";

/// The command that opens `file` in `editor`: a command line such as `code --wait`,
/// run by `sh` (as sops and git run their editors), with the file passed as one
/// argument whatever characters its name holds.
pub fn editor_command(editor: &str, file: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(file);
    cmd
}

/// A private folder in the temporary directory holding one plaintext file.
#[derive(Debug)]
pub struct PlainBuffer {
    dir: tempfile::TempDir,
    file: PathBuf,
}

impl PlainBuffer {
    /// Sweeps stale buffer folders, makes a new private one and writes `plain`
    /// to the file `name` in it. `name` must be one plain file name
    /// ([`Error::BufferName`] otherwise: no folders, no `..`).
    pub fn create(name: impl AsRef<Path>, plain: &[u8]) -> Result<Self, Error> {
        let name = name.as_ref();
        let mut parts = name.components();
        if !matches!(
            (parts.next(), parts.next()),
            (Some(std::path::Component::Normal(_)), None)
        ) {
            return Err(Error::BufferName {
                name: name.to_path_buf(),
            });
        }
        sweep_stale_buffers();
        let tmp = std::env::temp_dir();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .map_err(|e| Error::io("create a private folder in", &tmp, e))?;
        let file = dir.path().join(name);
        std::fs::write(&file, plain).map_err(|e| Error::io("write", &file, e))?;
        Ok(PlainBuffer { dir, file })
    }

    /// The plaintext file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The private folder that holds it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The file's contents now, in a buffer wiped when dropped.
    pub fn read(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        std::fs::read(&self.file)
            .map(Zeroizing::new)
            .map_err(|e| Error::io("read", &self.file, e))
    }
}

/// Removes buffer folders named after a process id that no longer runs.
fn sweep_stale_buffers() {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_editor_gets_the_file_as_one_argument() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("it's a $file; rm x.yaml");
        std::fs::write(&file, "a: 1\n").unwrap();
        // An editor command line with its own argument, as EDITOR often is.
        let out = editor_command("cat -n", &file).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1\ta: 1");
    }

    #[test]
    fn the_folder_is_private_and_goes_on_drop() {
        let b = PlainBuffer::create("x.env", b"A=1\n").unwrap();
        let mode = std::fs::metadata(b.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(b.path(), b.dir().join("x.env"));
        let dir = b.dir().to_path_buf();
        drop(b);
        assert!(!dir.exists());
    }

    #[test]
    fn names_that_would_leave_the_folder_are_refused() {
        for bad in ["", "..", "../x", "/etc/x", "a/b"] {
            assert!(
                matches!(
                    PlainBuffer::create(bad, b"s"),
                    Err(Error::BufferName { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn folders_of_dead_processes_are_swept_and_live_ones_kept() {
        // pid 0 is never a process in /proc.
        let dead = std::env::temp_dir().join(format!("{PREFIX}0-unittest"));
        std::fs::create_dir_all(&dead).unwrap();
        let live = PlainBuffer::create("f", b"").unwrap();
        assert!(!dead.exists());
        let other = PlainBuffer::create("g", b"").unwrap();
        assert!(live.dir().exists() && other.dir().exists());
    }
}
