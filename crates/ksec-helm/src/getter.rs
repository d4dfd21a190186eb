//! The downloader: what Helm runs for `-f secrets://…` and `--set-file k=secrets://…`.
//!
//! Helm runs `PLUGIN_DIR/ksec helm downloader CERT KEY CA URL` from its own working
//! folder and reads the values from standard output; a non-zero exit makes Helm stop
//! with the downloader's standard error shown. The steps are helm-secrets': protocol
//! allowed? backend? key to import? file (or URL) there? encrypted? — each failure
//! an [`Error`] naming the file. Plaintext goes to the caller in memory, never to a
//! file.
use crate::content::{self, Plain};
use crate::error::{Error, Result};
use crate::keys::{ImportedKey, Keys};
use crate::settings::Settings;
use crate::source;
use crate::url::{Backend, KeyLocation, Protocol, SecretsUrl, Target};
use ksec_sops::{Config, Zeroizing};

/// The values a downloader hands Helm, and what to tell the user.
pub struct Downloaded {
    /// The bytes for Helm (plaintext values).
    pub data: Zeroizing<Vec<u8>>,
    /// Notes for standard error (a file passed through unencrypted), unless quiet.
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Downloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downloaded")
            .field("data", &format_args!("{} bytes", self.data.len()))
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl Downloaded {
    fn empty() -> Self {
        Downloaded {
            data: Zeroizing::new(Vec::new()),
            warnings: Vec::new(),
        }
    }
}

/// Serves one downloader URL.
pub fn download(url: &str, settings: &Settings) -> Result<Downloaded> {
    let u = SecretsUrl::parse(url)?;
    settings.check_protocol(u.protocol)?;
    let backend = settings.backend(u.backend.as_ref())?.clone();
    if let Target::Literal(text) = &u.target {
        return literal(text, &backend, settings);
    }
    if let Some(key) = &u.key {
        settings.check_key_location(key)?;
    }
    let ignore_missing = u.ignore_missing || settings.ignore_missing_values;
    let shown = u.target.describe();
    let bytes = match source::fetch(&u.target, settings) {
        Ok(Some(b)) => b,
        Ok(None) | Err(Error::Download { .. }) if ignore_missing => return Ok(Downloaded::empty()),
        Ok(None) => {
            return Err(Error::Missing {
                what: "values file",
                file: shown,
                hint:
                    " (a '?' before the path, secrets://?PATH, makes a missing file empty values)",
            })
        }
        Err(e) => return Err(e),
    };
    if backend == Backend::Noop {
        return Ok(Downloaded {
            data: Zeroizing::new(bytes),
            warnings: Vec::new(),
        });
    }
    let config = sops_config();
    let plain = content::decrypt(&shown, &bytes, config.as_ref(), || {
        let import = u
            .key
            .as_ref()
            .map(|k| load_key(u.protocol, k))
            .transpose()?;
        Keys::new(settings, import)
    })?;
    Ok(match plain {
        Plain::Decrypted(data) => Downloaded {
            data,
            warnings: Vec::new(),
        },
        Plain::NotEncrypted => Downloaded {
            data: Zeroizing::new(bytes),
            warnings: if settings.quiet {
                Vec::new()
            } else {
                vec![format!(
                    "{shown} has no SOPS metadata: it is passed to Helm unchanged"
                )]
            },
        },
    })
}

/// `secrets+literal://`: a SOPS JSON document is decrypted, anything else is the value.
fn literal(text: &str, backend: &Backend, settings: &Settings) -> Result<Downloaded> {
    let as_is = || Downloaded {
        data: Zeroizing::new(text.as_bytes().to_vec()),
        warnings: Vec::new(),
    };
    if *backend == Backend::Noop {
        return Ok(as_is());
    }
    match content::decrypt("secrets+literal:// value", text.as_bytes(), None, || {
        Keys::new(settings, None)
    })? {
        Plain::Decrypted(data) => Ok(Downloaded {
            data,
            warnings: Vec::new(),
        }),
        Plain::NotEncrypted => Ok(as_is()),
    }
}

/// The `.sops.yaml` sops would find from here (its indent settings shape the
/// plaintext). One that cannot be read does not stop a decryption.
pub(crate) fn sops_config() -> Option<Config> {
    let cwd = std::env::current_dir().ok()?;
    Config::find(None, &cwd).ok().flatten()
}

/// Reads the key an import URL names.
fn load_key(protocol: Protocol, location: &KeyLocation) -> Result<ImportedKey> {
    let (bytes, from) = match location {
        KeyLocation::File(p) => (source::read_key_file(p)?, p.display().to_string()),
        KeyLocation::Kubernetes(r) => (
            source::read_kubernetes_key(r)?,
            format!("Secret {r} key {}", r.key),
        ),
    };
    match protocol {
        Protocol::AgeImport | Protocol::AgeImportKubernetes => {
            if std::str::from_utf8(&bytes).is_err() {
                return Err(Error::KeyImport {
                    kind: "age",
                    from,
                    reason: "it is not text (an age identity file is AGE-SECRET-KEY-1… lines)"
                        .into(),
                });
            }
            let text = Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
            Ok(ImportedKey::Age { from, text })
        }
        _ => Ok(ImportedKey::Gpg { from, key: bytes }),
    }
}
