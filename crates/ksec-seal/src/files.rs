//! Reading what the verbs take from files: private keys (PEM, key Secrets, Lists, and
//! age-encrypted backups with the `age` feature), backups, and the sealing certificate
//! from a file or, with the `fetch` feature, a URL (kubeseal's `--cert`).
use crate::backup::{self, Backup};
use crate::error::{Cause, Error, Result};
use crate::keys::{self, SealingKey};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Reads a file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::ReadFile {
        path: path.display().to_string(),
        source: Cause::new(e),
    })
}

/// Loads the private keys of `files`: PEM, key Secrets, `kind: List`s of them, and
/// age-encrypted key backups, opened with the age or SSH identities of
/// `identity_files` (read only when an encrypted backup is met).
pub fn load_key_files(files: &[PathBuf], identity_files: &[PathBuf]) -> Result<Vec<SealingKey>> {
    let mut out = vec![];
    for f in files {
        let bytes = Zeroizing::new(read_file(f)?);
        if backup::is_encrypted(&bytes) {
            out.extend(open_backup_bytes(&bytes, f, identity_files)?.sealing_keys());
        } else {
            out.extend(keys::load_private_keys(&bytes, &f.display().to_string())?);
        }
    }
    Ok(out)
}

/// Opens a key backup file: age-encrypted (with the identities of `identity_files`) or
/// a plain manifest of key Secrets.
pub fn open_backup(file: &Path, identity_files: &[PathBuf]) -> Result<Backup> {
    let bytes = Zeroizing::new(read_file(file)?);
    open_backup_bytes(&bytes, file, identity_files)
}

fn open_backup_bytes(bytes: &[u8], file: &Path, identity_files: &[PathBuf]) -> Result<Backup> {
    let name = file.display().to_string();
    if !backup::is_encrypted(bytes) {
        return Backup::from_manifest(bytes, &name);
    }
    if identity_files.is_empty() {
        return Err(Error::EncryptedBackup { file: name });
    }
    decrypt(bytes, &name, identity_files)
}

#[cfg(feature = "age")]
fn decrypt(bytes: &[u8], name: &str, identity_files: &[PathBuf]) -> Result<Backup> {
    let ids = read_identities(identity_files)?;
    Backup::decrypt(bytes, &ids, name)
}

#[cfg(not(feature = "age"))]
fn decrypt(_: &[u8], name: &str, _: &[PathBuf]) -> Result<Backup> {
    Err(Error::EncryptedBackup { file: name.into() })
}

/// Loads age identity files or SSH private keys. An unusable one is reported as
/// [`Error::IdentityFile`].
#[cfg(feature = "age")]
pub fn read_identities(files: &[PathBuf]) -> Result<backup::Identities> {
    let mut ids = backup::Identities::new();
    for f in files {
        let bytes = Zeroizing::new(read_file(f)?);
        ids.add_file(&bytes, &f.display().to_string())
            .map_err(|e| Error::IdentityFile(Box::new(e)))?;
    }
    Ok(ids)
}

/// A backup of the key Secrets in `files` (key Secrets, Lists such as
/// `kubectl get secret -o yaml` output). Each file is checked on its own, so errors name
/// it; an already encrypted backup is refused.
pub fn backup_from_files(files: &[PathBuf]) -> Result<Backup> {
    let mut docs = vec![];
    let wipe_all = |docs: &mut Vec<serde_json::Value>| docs.iter_mut().for_each(backup::wipe);
    for f in files {
        let bytes = Zeroizing::new(read_file(f)?);
        let name = f.display().to_string();
        if backup::is_encrypted(&bytes) {
            wipe_all(&mut docs);
            return Err(Error::AlreadyEncrypted { file: name });
        }
        let parsed = match crate::docs::parse_documents(&bytes) {
            Ok(p) => p,
            Err(e) => {
                wipe_all(&mut docs);
                return Err(e.within(&name));
            }
        };
        let checked = Backup::from_secrets(&parsed, &name);
        docs.extend(parsed);
        if let Err(e) = checked {
            wipe_all(&mut docs);
            return Err(e);
        }
    }
    let backup = Backup::from_secrets(&docs, "the files given");
    wipe_all(&mut docs);
    backup
}

/// The manifest files under `paths`: each file as given, and in each directory (searched
/// recursively, in name order) the `.yaml`, `.yml` and `.json` files, leaving out hidden
/// files and directories (`.git`).
pub fn manifest_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for p in paths {
        collect(p, &mut out)?;
    }
    Ok(out)
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let unreadable = |e: std::io::Error| Error::ReadFile {
        path: p.display().to_string(),
        source: Cause::new(e),
    };
    let meta = std::fs::metadata(p).map_err(unreadable)?;
    if !meta.is_dir() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(p)
        .map_err(unreadable)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.sort();
    for e in entries {
        let hidden = e
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if e.is_dir() {
            collect(&e, out)?;
        } else if e
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))
        {
            out.push(e);
        }
    }
    Ok(())
}

/// The output file for one of several certificates sealed for at once: the output's
/// name with the certificate's file stem inserted (`sealed.yaml` + `certs/prod.pem` →
/// `sealed.prod.yaml`; a URL's last segment counts as its file). With one certificate,
/// the output itself.
pub fn output_for_certificate(out: &Path, certificate: &str, count: usize) -> PathBuf {
    if count <= 1 {
        return out.to_path_buf();
    }
    let cert_stem = Path::new(certificate.rsplit('/').next().unwrap_or(certificate))
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("cluster")
        .to_string();
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("sealed");
    let name = match out.extension().and_then(|e| e.to_str()) {
        Some(ext) => format!("{stem}.{cert_stem}.{ext}"),
        None => format!("{stem}.{cert_stem}"),
    };
    out.with_file_name(name)
}

/// Reads a sealing certificate given as a file name or a `file://`, `http://` or
/// `https://` URL, as kubeseal's `--cert` takes it (URLs with the `fetch` feature; a
/// fetch gives up after 30 seconds).
pub fn read_certificate(source: &str) -> Result<Vec<u8>> {
    if let Some(path) = source.strip_prefix("file://") {
        return read_file(Path::new(path));
    }
    if source.starts_with("http://") || source.starts_with("https://") {
        return fetch(source);
    }
    read_file(Path::new(source))
}

#[cfg(feature = "fetch")]
fn fetch(url: &str) -> Result<Vec<u8>> {
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| Error::HttpClient {
            source: Cause::new(e),
        })?;
    let resp = client.get(url).send().map_err(|e| Error::Fetch {
        url: url.into(),
        source: Cause::new(e),
    })?;
    if !resp.status().is_success() {
        return Err(Error::FetchStatus {
            url: url.into(),
            status: resp.status().to_string(),
        });
    }
    Ok(resp
        .bytes()
        .map_err(|e| Error::FetchBody {
            url: url.into(),
            source: Cause::new(e),
        })?
        .to_vec())
}

#[cfg(not(feature = "fetch"))]
fn fetch(url: &str) -> Result<Vec<u8>> {
    Err(Error::FetchStatus {
        url: url.into(),
        status: "this build of ksec-seal cannot fetch URLs (feature `fetch`)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_give_their_manifests_in_order_without_hidden_ones() {
        let dir = ksec_testkit::tempdir();
        let root = dir.path();
        for f in [
            "b.yaml",
            "a.json",
            "notes.txt",
            ".hidden.yaml",
            "sub/c.yml",
            ".git/d.yaml",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let found = manifest_files(&[root.to_path_buf(), root.join("notes.txt")]).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["a.json", "b.yaml", "sub/c.yml", "notes.txt"]);
        let e = manifest_files(&[root.join("missing")]).unwrap_err();
        assert!(e.to_string().starts_with("cannot read "), "{e}");
    }

    #[test]
    fn outputs_are_named_after_certificates() {
        assert_eq!(
            output_for_certificate(Path::new("out/s.yaml"), "certs/prod.pem", 2),
            Path::new("out/s.prod.yaml")
        );
        assert_eq!(
            output_for_certificate(Path::new("s"), "https://x/y/stage.crt", 2),
            Path::new("s.stage")
        );
        assert_eq!(
            output_for_certificate(Path::new("s.json"), "a.pem", 1),
            Path::new("s.json")
        );
    }
}
