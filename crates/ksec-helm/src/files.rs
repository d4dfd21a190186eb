//! `helm secrets decrypt` and `helm secrets encrypt` as library verbs: they return
//! the bytes; the caller prints them or writes them back.
//!
//! As in helm-secrets 4.x, `encrypt` writes YAML and resolves recipients the way
//! `sops --encrypt` run in the file's folder does (`SOPS_AGE_RECIPIENTS`,
//! `SOPS_PGP_FP`, else the first matching creation rule of the `.sops.yaml` found
//! upward from that folder), and `decrypt` reads a local file or an http(s) URL.
use crate::content::{self, Plain};
use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::settings::Settings;
use crate::source;
use crate::url::{is_http, Backend, Target};
use ksec_sops::{Config, EncryptionOverrides, Encryptor, Format, Zeroizing};
use std::path::Path;

/// The plaintext of a SOPS file (path or http(s) URL). A file without SOPS metadata
/// is an error ([`Error::NotEncrypted`]).
pub fn decrypt_file(file: &str, settings: &Settings) -> Result<Zeroizing<Vec<u8>>> {
    let backend = settings.backend(None)?;
    let target = if is_http(file) {
        Target::Http(file.to_string())
    } else {
        Target::File(file.into())
    };
    let bytes = source::fetch(&target, settings)?.ok_or_else(|| Error::Missing {
        what: "file",
        file: file.to_string(),
        hint: "",
    })?;
    if *backend == Backend::Noop {
        return Ok(Zeroizing::new(bytes));
    }
    let config = crate::getter::sops_config();
    match content::decrypt(file, &bytes, config.as_ref(), || Keys::new(settings, None))? {
        Plain::Decrypted(b) => Ok(b),
        Plain::NotEncrypted => Err(Error::NotEncrypted {
            file: file.to_string(),
        }),
    }
}

/// The file encrypted as YAML for the recipients sops would pick for it.
pub fn encrypt_file(path: &Path, settings: &Settings) -> Result<Vec<u8>> {
    let shown = path.display().to_string();
    if *settings.backend(None)? == Backend::Noop {
        return Err(Error::UnsupportedBackend {
            backend: "noop".into(),
            reason: "the noop backend does not encrypt",
        });
    }
    let bytes = source::read_local(path)?.ok_or_else(|| Error::Missing {
        what: "file",
        file: shown.clone(),
        hint: "",
    })?;
    if content::is_encrypted(&shown, &bytes) {
        return Err(Error::AlreadyEncrypted { file: shown });
    }
    let abs =
        std::path::absolute(path).map_err(|e| Error::io(format!("cannot resolve {shown}"), e))?;
    let folder = abs.parent().unwrap_or(Path::new("/"));
    let fail = |source| Error::Encrypt {
        file: shown.clone(),
        source: Box::new(source),
    };
    let config = Config::find(None, folder).map_err(fail)?;
    let list = |var: &str| -> Vec<String> {
        std::env::var(var)
            .map(|v| ksec_text::split_list(&v).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let overrides = EncryptionOverrides {
        age: list("SOPS_AGE_RECIPIENTS"),
        pgp: list("SOPS_PGP_FP"),
        ..EncryptionOverrides::default()
    };
    let keys = Keys::new(settings, None)?;
    Encryptor::resolve(&overrides, config.as_ref(), &abs, Format::Yaml)
        .and_then(|e| e.encrypt(&bytes, Format::Yaml, keys.keyring()))
        .map_err(fail)
}
