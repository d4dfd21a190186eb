//! Helm integration: a native drop-in for the helm-secrets plugin, on Helm 3 and Helm 4.
//!
//! What it models: helm-secrets 4.x's interface without its shell —
//! - the downloader protocols Helm runs as `COMMAND CERT KEY CA URL`, writing values
//!   to standard output ([`download`], [`SecretsUrl`]): `secrets://`,
//!   `secrets+age-import://`, `secrets+gpg-import://`, their `-kubernetes` variants
//!   (the key read from a cluster Secret through the kubeconfig, no kubectl),
//!   `secrets+literal://`, the `?` and `BACKEND!` prefixes, local files and http(s)
//!   URLs (with `${NAME}` expanded from the environment under
//!   `HELM_SECRETS_URL_VARIABLE_EXPANSION`, as helm-secrets does for URLs only), and
//!   `ksec://` as an alias of `secrets://`;
//! - `helm secrets decrypt` / `encrypt` ([`decrypt_file`], [`encrypt_file`]) and
//!   wrapper mode for every other Helm command ([`wrapper::rewrite_args`]), which
//!   hands encrypted `-f`/`--set-file` files to Helm as `secrets://` URLs so that no
//!   plaintext file is written;
//! - helm-secrets' settings ([`Settings`]: `HELM_SECRETS_*`, with safer defaults
//!   under Argo CD) and the two legacy-format plugins that load on Helm 3 and Helm 4
//!   ([`plugin`]);
//! - helm-secrets' own command line ([`SecretsOptions`] for `helm secrets [OPTIONS]`,
//!   [`FileOperand`] for `encrypt`/`decrypt`), and which real Helm wrapper mode runs
//!   and how ([`wrapper::Launch`], [`wrapper::RealHelm`], the loop guard
//!   [`wrapper::next_depth`]), so a front end only parses, prints and runs it;
//! - private scratch folders for what cannot stay in memory ([`scratch`]).
//!
//! Encryption is recognised by the SOPS metadata a file parses to, not by grep; a
//! file without it passes through unchanged. Decryption is ksec-sops's (MAC checked),
//! with the environment's age and PGP keys plus the imported ones ([`Keys`]).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ksec_helm::{download, Protocol, SecretsUrl, Settings};
//! use ksec_sops::{keys::age, Encryptor, Format, Keyring, Recipient};
//!
//! // A values file encrypted for a fresh age key, and that key in a file.
//! let dir = tempfile::tempdir()?;
//! let (identity, recipient) = age::generate();
//! let key = dir.path().join("key.txt");
//! std::fs::write(&key, identity.as_bytes())?;
//! let plain = b"db:\n    password: hunter2\n";
//! let encrypted = Encryptor::new()
//!     .recipients([Recipient::age(&recipient)])
//!     .encrypt(plain, Format::Yaml, &Keyring::new(vec![Box::new(age::AgeService::empty())]))?;
//! let values = dir.path().join("secrets.yaml");
//! std::fs::write(&values, &encrypted)?;
//!
//! // What Helm asks for with `-f secrets+age-import://KEY?FILE`.
//! let url = format!("secrets+age-import://{}?{}", key.display(), values.display());
//! assert_eq!(SecretsUrl::parse(&url)?.protocol, Protocol::AgeImport);
//! let out = download(&url, &Settings::default())?;
//! assert_eq!(out.data.as_slice(), plain);
//!
//! // A missing file is an error, unless the path starts with '?'.
//! let missing = format!("secrets://{}", dir.path().join("nope.yaml").display());
//! assert!(download(&missing, &Settings::default()).is_err());
//! let optional = format!("secrets://?{}", dir.path().join("nope.yaml").display());
//! assert!(download(&optional, &Settings::default())?.data.is_empty());
//! # Ok(()) }
//! ```
//!
//! Compatible with: helm-secrets 4.x's URLs, settings, commands and exit behaviour
//! (read from its sources: `scripts/commands/*.sh`, `scripts/lib/*.sh`); Helm 3.18 and
//! Helm 4.1's plugin loading and getter protocol (`pkg/getter`, `internal/plugin`).
//! Not implemented: the `vals` backend and custom backend scripts (refused, named),
//! `--evaluate-templates`, `HELM_SECRETS_BACKEND_ARGS`, decryption of `--set`
//! literals in wrapper mode; PGP private keys need the `gpg` binary, as with sops.
//!
//! How it is tested: unit and property tests here; `tests/ksec-helm.rs` runs the
//! library on files the real `sops` encrypted for keys the real `age-keygen` and
//! `gpg` made, and the `-kubernetes` protocols against ksec-testkit's HTTPS
//! Kubernetes API; the `ksec` binary's tests run the real Helm 4 and Helm 3 with the
//! plugins installed (`crates/ksec/tests/ksec/helm.rs`). The URL parser has a fuzz
//! target (`fuzz/fuzz_targets/ksec_helm_url.rs`).
#![forbid(unsafe_code)]

mod content;
mod error;
mod expand;
mod files;
mod getter;
mod keys;
mod options;
pub mod plugin;
pub mod scratch;
mod settings;
mod source;
mod url;
pub mod wrapper;

pub use content::{detect_format, is_encrypted};
pub use error::{Error, Result};
pub use files::{decrypt_file, encrypt_file};
pub use getter::{download, Downloaded};
pub use keys::{ImportedKey, Keys};
pub use options::{terraform_json, FileOperand, SecretsOptions};
pub use settings::Settings;
pub use source::MAX_FILE_BYTES;
pub use url::{
    is_http, Backend, KeyLocation, Protocol, SecretKeyRef, SecretsUrl, Target, MAX_URL_LEN,
};

/// Entry points for the fuzz targets; not part of the API.
#[doc(hidden)]
pub mod internal {
    /// Parses a downloader URL (the fuzz target's entry point).
    pub fn parse_url(text: &str) -> Result<crate::SecretsUrl, crate::Error> {
        crate::SecretsUrl::parse(text)
    }

    /// Parses a downloader URL and writes it back in canonical form.
    pub fn reformat_url(text: &str) -> Result<String, crate::Error> {
        crate::SecretsUrl::parse(text).map(|u| u.to_url_string())
    }

    /// Expands `${NAME}` in a URL as `HELM_SECRETS_URL_VARIABLE_EXPANSION` does,
    /// with every variable set to `value`.
    pub fn expand_url(text: &str, value: &str) -> Result<String, crate::Error> {
        crate::expand::expand_url(text, |_| Some(value.to_string())).map(|s| s.to_string())
    }
}
