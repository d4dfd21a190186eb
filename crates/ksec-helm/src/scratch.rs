//! Private scratch folders for what cannot stay in memory: an imported PGP keyring
//! (gpg needs a home folder), or a decrypted values file when Helm has no getter
//! plugin to hand a `secrets://` URL to.
//!
//! A folder is `$TMPDIR/ksec-helm-PID-XXXXXX`, mode 0700, its files 0600 and created
//! new (never reused, never followed through a symlink). It is removed when dropped,
//! by [`remove_all`] from a signal handler, and, after a `SIGKILL`, by
//! [`sweep_stale`] on a later run (folders whose process is gone). A gpg-agent
//! started for a keyring inside is stopped before the folder goes.
use crate::error::{Error, Result};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const PREFIX: &str = "ksec-helm-";

/// Folders alive in this process, for [`remove_all`].
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A private scratch folder, removed on drop.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
    gpg_homes: Vec<PathBuf>,
}

impl ScratchDir {
    /// Creates a new private folder under the system's temporary folder.
    pub fn new() -> Result<Self> {
        sweep_stale();
        let dir = std::env::temp_dir();
        let made = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&dir)
            .map_err(|e| {
                Error::io(
                    format!("cannot create a private folder in {}", dir.display()),
                    e,
                )
            })?;
        let path = made.keep();
        if let Ok(mut live) = LIVE.lock() {
            live.push(path.clone());
        }
        Ok(Self {
            path,
            gpg_homes: Vec::new(),
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a new 0600 file `name` (a plain file name) inside and returns its path.
    pub fn write_private(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        let p = self.path.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc_o_nofollow())
            .open(&p)
            .map_err(|e| Error::io(format!("cannot create {}", p.display()), e))?;
        f.write_all(bytes)
            .map_err(|e| Error::io(format!("cannot write {}", p.display()), e))?;
        Ok(p)
    }

    /// Creates a 0700 sub-folder for a gpg home; its agent is stopped on drop.
    pub fn gpg_home(&mut self) -> Result<PathBuf> {
        let p = self.path.join(format!("gnupg{}", self.gpg_homes.len()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&p)
            .map_err(|e| Error::io(format!("cannot create {}", p.display()), e))?;
        self.gpg_homes.push(p.clone());
        Ok(p)
    }
}

/// `O_NOFOLLOW` on Linux (x86, arm and most others); 0 elsewhere (then `create_new`
/// alone refuses an existing link).
fn libc_o_nofollow() -> i32 {
    if cfg!(target_os = "linux") {
        0o400000
    } else {
        0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        for home in &self.gpg_homes {
            stop_gpg_agent(home);
        }
        let _ = std::fs::remove_dir_all(&self.path);
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|p| p != &self.path);
        }
    }
}

fn stop_gpg_agent(home: &Path) {
    // Only if an agent was started there (it leaves its sockets or its lock behind).
    let started = std::fs::read_dir(home)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("S.gpg-agent"))
        })
        .unwrap_or(false)
        || home.join("private-keys-v1.d").exists();
    if started {
        let _ = std::process::Command::new("gpgconf")
            .arg("--homedir")
            .arg(home)
            .args(["--kill", "gpg-agent"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Removes every scratch folder of this process now (for a signal handler, just
/// before the process exits).
pub fn remove_all() {
    let paths = match LIVE.lock() {
        Ok(mut live) => std::mem::take(&mut *live),
        Err(_) => return,
    };
    for p in paths {
        if let Ok(rd) = std::fs::read_dir(&p) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with("gnupg") {
                    stop_gpg_agent(&e.path());
                }
            }
        }
        let _ = std::fs::remove_dir_all(&p);
    }
}

/// Removes scratch folders left by ksec processes that no longer run (killed with
/// `SIGKILL`, or a power loss). Folders of live processes are left alone.
pub fn sweep_stale() {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let mine = e
            .metadata()
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == current_uid())
            .unwrap_or(false);
        if mine
            && e.file_type().is_ok_and(|t| t.is_dir())
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let p = e.path();
            if let Ok(rd) = std::fs::read_dir(&p) {
                for g in rd.flatten() {
                    if g.file_name().to_string_lossy().starts_with("gnupg") {
                        stop_gpg_agent(&g.path());
                    }
                }
            }
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// This process's user id, read from a file it just created (no libc call).
fn current_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_removed() {
        let s = ScratchDir::new().unwrap();
        let dir = s.path().to_path_buf();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let f = s.write_private("values.yaml", b"a: 1\n").unwrap();
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(
            s.write_private("values.yaml", b"again").is_err(),
            "never reused"
        );
        drop(s);
        assert!(!dir.exists());
    }
}
