//! kube-apiserver's `EncryptionConfiguration` (`apiserver.config.k8s.io/v1`).
//!
//! - [`check`] reads a file strictly (unknown fields are errors, as the apiserver's
//!   strict decoder makes them), applies the apiserver's defaults (KMS `apiVersion: v1`,
//!   `timeout: 3s`, `cachesize: 1000` for v1) and its validation rules with its messages
//!   and field paths, then adds warnings for valid but unwise choices. It collects every
//!   finding instead of stopping at the first (this is what `deny_unknown_fields` would
//!   lose), and never fails: an unreadable file is one finding at the root.
//! - [`EncryptionConfiguration::from_text`] gives the typed configuration that
//!   [`crate::decrypt`] uses, after the same checks.
//! - [`generate`] writes a correct configuration with fresh keys.
//!
//! ```
//! use ksec_etcd::encryption_config::{check, CheckOptions, Severity};
//! let text = b"apiVersion: apiserver.config.k8s.io/v1
//! kind: EncryptionConfiguration
//! resources:
//! - resources: [secrets]
//!   providers:
//!   - kms: {apiVersion: v2, name: ksec, endpoint: 'tcp://10.0.0.1:1234'}
//!     extra: 1
//! ";
//! let findings = check(text, CheckOptions::default());
//! let paths: Vec<&str> = findings.iter().filter(|f| f.severity == Severity::Error)
//!     .map(|f| f.path.as_str()).collect();
//! assert_eq!(paths, ["resources[0].providers[0].extra", "resources[0].providers[0].kms.endpoint"]);
//! ```
mod check;
mod generate;

pub use generate::{generate, GenerateSpec};

use crate::error::{Error, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ksec_crypto::SecretBytes;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

pub(crate) use check::group_resource;

const API_VERSION: &str = "apiserver.config.k8s.io/v1";
const KIND: &str = "EncryptionConfiguration";

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// kube-apiserver would refuse to start with this file.
    Error,
    /// Valid, but probably not what was meant.
    Warning,
}

/// One problem, at a field path such as `resources[0].providers[1].kms.timeout`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The field.
    pub path: String,
    /// What is wrong and what to do. Never contains key material.
    pub message: String,
    /// What kind of problem it is, for a caller that acts on some of them.
    pub kind: FindingKind,
}

/// The findings a caller may tell apart (to add a hint of its own); every other one is
/// [`FindingKind::Other`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FindingKind {
    /// A KMS v1 provider, which kube-apiserver refuses unless it runs with the `KMSv1`
    /// feature gate ([`CheckOptions::kms_v1_enabled`]).
    KmsV1Disabled,
    /// Any other finding.
    #[default]
    Other,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{s}: {}: {}", self.path, self.message)
    }
}

/// Options of the check that depend on the cluster.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckOptions {
    /// The apiserver runs with `--feature-gates=KMSv1=true` (KMS v1 is off since 1.29).
    pub kms_v1_enabled: bool,
    /// The apiserver reloads the file (`--encryption-provider-config-automatic-reload`):
    /// then KMS v1 names must be unique too.
    pub reload: bool,
}

/// Checks the text of an EncryptionConfiguration (YAML or JSON) as kube-apiserver would,
/// plus warnings. Every finding carries its field path; a file that cannot be parsed at
/// all gives one error at the path `""`.
pub fn check(text: &[u8], opts: CheckOptions) -> Vec<Finding> {
    match parse(text) {
        Ok(doc) => check::check_value(&doc, opts),
        Err(message) => vec![Finding {
            severity: Severity::Error,
            path: String::new(),
            message,
            kind: FindingKind::Other,
        }],
    }
}

/// [`check`] on a document already parsed (by a scanner that read the file with its
/// own YAML loader, say): the same findings as for its text.
pub fn check_document(doc: &Value, opts: CheckOptions) -> Vec<Finding> {
    check::check_value(doc, opts)
}

/// Parses the text into one document. serde_norway bounds nesting depth and alias
/// expansion, so a hostile file cannot blow up memory or the stack.
fn parse(text: &[u8]) -> std::result::Result<Value, String> {
    use serde::Deserialize;
    let s = std::str::from_utf8(text).map_err(|_| "the file is not UTF-8 text".to_string())?;
    let mut docs = vec![];
    for d in serde_norway::Deserializer::from_str(s) {
        let v = Value::deserialize(d).map_err(|e| format!("invalid YAML: {e}"))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    match docs.len() {
        1 => Ok(docs.remove(0)),
        0 => Err("the file is empty".into()),
        n => Err(format!(
            "the file holds {n} documents; kube-apiserver reads exactly one"
        )),
    }
}

/// A checked EncryptionConfiguration.
#[derive(Clone, Debug)]
pub struct EncryptionConfiguration {
    /// The `resources` entries, in order.
    pub resources: Vec<ResourceConfiguration>,
}

/// One `resources` entry: which resources, and the providers for them in order (the
/// first writes; all of them read).
#[derive(Clone, Debug)]
pub struct ResourceConfiguration {
    /// `secrets`, `*.`, `*.*`, `deployments.apps`, …
    pub resources: Vec<String>,
    /// The providers, in order.
    pub providers: Vec<Provider>,
}

/// One provider.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Provider {
    /// `aesgcm` with its keys (the first encrypts).
    Aesgcm(Vec<Key>),
    /// `aescbc` with its keys.
    Aescbc(Vec<Key>),
    /// `secretbox` with its keys.
    Secretbox(Vec<Key>),
    /// `kms`.
    Kms(KmsConfiguration),
    /// `identity`: plaintext.
    Identity,
}

/// A named key of `aesgcm`, `aescbc` or `secretbox`. `Debug` never shows the secret.
#[derive(Clone, Debug)]
pub struct Key {
    /// `name`: written into every value's prefix.
    pub name: String,
    /// `secret`, base64-decoded.
    pub secret: SecretBytes,
}

/// The KMS API version a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KmsApiVersion {
    /// `v1` (deprecated; the default when `apiVersion` is unset).
    V1,
    /// `v2`.
    V2,
}

/// A `kms` provider.
#[derive(Clone, Debug)]
pub struct KmsConfiguration {
    /// `apiVersion`.
    pub api_version: KmsApiVersion,
    /// `name`: written into every value's prefix.
    pub name: String,
    /// `endpoint`: `unix:///path/to/socket`.
    pub endpoint: String,
    /// `timeout` (default 3s).
    pub timeout: Duration,
}

impl KmsConfiguration {
    /// The socket path of a `unix://` endpoint.
    pub fn socket_path(&self) -> Option<std::path::PathBuf> {
        self.endpoint
            .strip_prefix("unix://")
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from)
    }
}

impl EncryptionConfiguration {
    /// Reads and checks a configuration; any error finding (not warnings) refuses it.
    /// KMS v1 providers are accepted: data written under them must stay readable.
    /// `origin` names the file in errors.
    pub fn from_text(text: &[u8], origin: &str) -> Result<Self> {
        let doc = parse(text).map_err(|reason| Error::ConfigSyntax {
            origin: origin.to_string(),
            reason,
        })?;
        let opts = CheckOptions {
            kms_v1_enabled: true,
            reload: false,
        };
        let errors: Vec<Finding> = check::check_value(&doc, opts)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        if !errors.is_empty() {
            return Err(Error::ConfigInvalid {
                origin: origin.to_string(),
                findings: errors,
            });
        }
        Ok(typed(&doc))
    }

    /// All KMS providers, in order of appearance.
    pub fn kms_providers(&self) -> impl Iterator<Item = &KmsConfiguration> {
        self.resources
            .iter()
            .flat_map(|r| &r.providers)
            .filter_map(|p| match p {
                Provider::Kms(k) => Some(k),
                _ => None,
            })
    }

    /// The first KMS provider named `name`, or [`Error::NoSuchKmsProvider`] listing the
    /// names there are (in order of appearance).
    pub fn kms_provider(&self, name: &str) -> Result<&KmsConfiguration> {
        if let Some(k) = self.kms_providers().find(|k| k.name == name) {
            return Ok(k);
        }
        let known: Vec<&str> = self.kms_providers().map(|k| k.name.as_str()).collect();
        Err(Error::NoSuchKmsProvider {
            provider: name.to_string(),
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        })
    }
}

/// Builds the typed form of a document that passed the checks (so every field has its
/// expected type; anything else is skipped rather than trusted).
fn typed(doc: &Value) -> EncryptionConfiguration {
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let keys = |v: &Value| -> Vec<Key> {
        v["keys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| {
                        let secret = STANDARD.decode(k["secret"].as_str()?).ok()?;
                        Some(Key {
                            name: k["name"].as_str()?.to_string(),
                            secret: SecretBytes::new(secret),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let provider = |p: &Value| -> Option<Provider> {
        let obj = p.as_object()?;
        let (kind, inner) = obj.iter().find(|(_, v)| !v.is_null())?;
        Some(match kind.as_str() {
            "aesgcm" => Provider::Aesgcm(keys(inner)),
            "aescbc" => Provider::Aescbc(keys(inner)),
            "secretbox" => Provider::Secretbox(keys(inner)),
            "identity" => Provider::Identity,
            "kms" => Provider::Kms(KmsConfiguration {
                api_version: match inner["apiVersion"].as_str() {
                    Some("v2") => KmsApiVersion::V2,
                    _ => KmsApiVersion::V1,
                },
                name: inner["name"].as_str().unwrap_or_default().to_string(),
                endpoint: inner["endpoint"].as_str().unwrap_or_default().to_string(),
                timeout: inner["timeout"]
                    .as_str()
                    .and_then(|t| ksec_text::parse_signed_duration(t).ok())
                    .and_then(|ns| u64::try_from(ns).ok())
                    .map(Duration::from_nanos)
                    .unwrap_or(Duration::from_secs(3)),
            }),
            _ => return None,
        })
    };
    EncryptionConfiguration {
        resources: doc["resources"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|rc| ResourceConfiguration {
                        resources: strs(&rc["resources"]),
                        providers: rc["providers"]
                            .as_array()
                            .map(|ps| ps.iter().filter_map(provider).collect())
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_configuration_keeps_order_keys_and_kms_settings() {
        let k16 = STANDARD.encode([1u8; 16]);
        let k32 = STANDARD.encode([2u8; 32]);
        let text = format!(
            "apiVersion: {API_VERSION}\nkind: {KIND}\nresources:\n- resources: [secrets, configmaps]\n  providers:\n  - kms: {{apiVersion: v2, name: a, endpoint: 'unix:///run/a.sock', timeout: 1500ms}}\n  - kms: {{name: old, endpoint: 'unix:///run/old.sock'}}\n  - aescbc: {{keys: [{{name: k1, secret: {k16}}}, {{name: k2, secret: {k32}}}]}}\n  - secretbox: {{keys: [{{name: s, secret: {k32}}}]}}\n  - identity: {{}}\n"
        );
        let c = EncryptionConfiguration::from_text(text.as_bytes(), "enc.yaml").unwrap();
        let r = &c.resources[0];
        assert_eq!(r.resources, ["secrets", "configmaps"]);
        let Provider::Kms(k) = &r.providers[0] else {
            panic!()
        };
        assert_eq!((k.api_version, k.name.as_str()), (KmsApiVersion::V2, "a"));
        assert_eq!(k.timeout, Duration::from_millis(1500));
        assert_eq!(
            k.socket_path().unwrap(),
            std::path::Path::new("/run/a.sock")
        );
        let Provider::Kms(k) = &r.providers[1] else {
            panic!()
        };
        assert_eq!(
            (k.api_version, k.timeout),
            (KmsApiVersion::V1, Duration::from_secs(3))
        );
        let Provider::Aescbc(keys) = &r.providers[2] else {
            panic!()
        };
        assert_eq!(keys[1].name, "k2");
        assert_eq!(keys[1].secret.expose(), &[2u8; 32]);
        assert!(!format!("{c:?}").contains(&k32), "Debug never shows keys");
        assert!(matches!(r.providers[4], Provider::Identity));
        assert_eq!(c.kms_providers().count(), 2);
    }

    #[test]
    fn invalid_configurations_are_refused_with_every_error() {
        let e = EncryptionConfiguration::from_text(
            b"apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aesgcm: {keys: [{name: k, secret: c2hvcnQ=}]}\n  - kms: {name: x}\n",
            "enc.yaml",
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("enc.yaml: kube-apiserver would refuse"),
            "{msg}"
        );
        assert!(msg.contains("providers[0].aesgcm.keys[0].secret"), "{msg}");
        assert!(msg.contains("providers[1].kms.endpoint"), "{msg}");
        assert!(!msg.contains("c2hvcnQ"), "{msg}");
        assert!(matches!(
            EncryptionConfiguration::from_text(b"a: [", "x"),
            Err(Error::ConfigSyntax { .. })
        ));
    }
}
