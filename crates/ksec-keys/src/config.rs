//! Backend configuration: one plain serde block per backend, in YAML or JSON.
//!
//! ```yaml
//! vault:
//!   address: https://vault.example:8200
//!   key: ksec
//!   auth: { method: approle, role_id: 1234, secret_id_file: /etc/ksec/secret-id }
//! ```
//! Other blocks: `local: { key_file: /etc/ksec/keys }`,
//! `aws_kms: { key: arn:aws:kms:…, encryption_context: {…} }`,
//! `pkcs11: { module: /usr/lib/softhsm/libsofthsm2.so, token_label: T, key_label: K, pin_file: … }`.
//! Unknown fields are errors (a typo must not silently fall back to a default), and
//! every error names the field.
//!
//! Each backend module owns its block's type ([`LocalConfig`], [`VaultConfig`],
//! [`AwsKmsConfig`], [`Pkcs11Config`]); this module only chooses among them.
use crate::awskms::{AwsKmsBackend, AwsKmsConfig};
use crate::local::{LocalBackend, LocalConfig};
use crate::pkcs11::Pkcs11Config;
use crate::vault::{VaultBackend, VaultConfig};
use crate::{KeyBackend, KeyError, Result, RetryPolicy};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Configuration of one key backend: a document with exactly one of the keys
/// `local`, `vault`, `aws_kms`, `pkcs11` (a plain map, not a YAML tag).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BackendDoc", into = "BackendDoc")]
pub enum BackendConfig {
    /// A local key file.
    Local(LocalConfig),
    /// Vault / OpenBao Transit.
    Vault(VaultConfig),
    /// AWS KMS.
    AwsKms(AwsKmsConfig),
    /// A PKCS#11 token (needs the `pkcs11` cargo feature).
    Pkcs11(Pkcs11Config),
}

/// The document form of [`BackendConfig`].
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackendDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    local: Option<LocalConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vault: Option<VaultConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aws_kms: Option<AwsKmsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkcs11: Option<Pkcs11Config>,
}

impl TryFrom<BackendDoc> for BackendConfig {
    type Error = String;
    fn try_from(d: BackendDoc) -> std::result::Result<Self, String> {
        let mut all = Vec::new();
        if let Some(c) = d.local {
            all.push(BackendConfig::Local(c));
        }
        if let Some(c) = d.vault {
            all.push(BackendConfig::Vault(c));
        }
        if let Some(c) = d.aws_kms {
            all.push(BackendConfig::AwsKms(c));
        }
        if let Some(c) = d.pkcs11 {
            all.push(BackendConfig::Pkcs11(c));
        }
        match all.len() {
            1 => Ok(all.remove(0)),
            0 => Err(
                "no backend block: expected one of `local`, `vault`, `aws_kms`, `pkcs11`".into(),
            ),
            _ => Err(format!(
                "several backend blocks ({}): configure exactly one",
                all.iter().map(|c| c.kind()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

impl From<BackendConfig> for BackendDoc {
    fn from(c: BackendConfig) -> Self {
        let mut d = BackendDoc::default();
        match c {
            BackendConfig::Local(c) => d.local = Some(c),
            BackendConfig::Vault(c) => d.vault = Some(c),
            BackendConfig::AwsKms(c) => d.aws_kms = Some(c),
            BackendConfig::Pkcs11(c) => d.pkcs11 = Some(c),
        }
        d
    }
}

impl BackendConfig {
    /// Parses a YAML (or JSON, a subset of YAML) document; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: Option<&str>) -> Result<Self> {
        serde_norway::from_str(text).map_err(|e| KeyError::ConfigDocument {
            source_name: origin.map(str::to_string),
            message: e.to_string(),
        })
    }

    /// Parses a JSON document.
    pub fn from_json(text: &str, origin: Option<&str>) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| KeyError::ConfigDocument {
            source_name: origin.map(str::to_string),
            message: e.to_string(),
        })
    }

    /// Reads a file: JSON when it ends in `.json`, YAML otherwise.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::ConfigDocument {
            source_name: Some(origin.clone()),
            message: format!("cannot read: {e}"),
        })?;
        if path.extension().is_some_and(|e| e == "json") {
            Self::from_json(&text, Some(&origin))
        } else {
            Self::from_yaml(&text, Some(&origin))
        }
    }

    /// The backend kind this block configures.
    pub fn kind(&self) -> &'static str {
        match self {
            BackendConfig::Local(_) => "local",
            BackendConfig::Vault(_) => "vault",
            BackendConfig::AwsKms(_) => "aws-kms",
            BackendConfig::Pkcs11(_) => "pkcs11",
        }
    }

    /// The retry policy the block sets; `None` when it leaves the policy to the
    /// caller, and for the local backend, which has nothing to time out.
    pub fn retry(&self) -> Option<&RetryPolicy> {
        match self {
            BackendConfig::Local(_) => None,
            BackendConfig::Vault(c) => c.retry.as_ref(),
            BackendConfig::AwsKms(c) => c.retry.as_ref(),
            BackendConfig::Pkcs11(c) => c.retry.as_ref(),
        }
    }

    /// Fits the retry policy of a block that sets none into `budget`, the time the
    /// caller gives one wrap or unwrap in all: two tries for a network service
    /// (Vault, AWS KMS), one for a PKCS#11 token, each within the budget as
    /// [`RetryPolicy::within`] divides it. A block that sets its own `retry` keeps it;
    /// the local backend has nothing to time out.
    pub fn set_call_budget(&mut self, budget: Duration) {
        let slot = match self {
            BackendConfig::Local(_) => return,
            BackendConfig::Vault(c) => (&mut c.retry, 2),
            BackendConfig::AwsKms(c) => (&mut c.retry, 2),
            BackendConfig::Pkcs11(c) => (&mut c.retry, 1),
        };
        if slot.0.is_none() {
            *slot.0 = Some(RetryPolicy::within(budget, slot.1));
        }
    }

    /// Builds the backend. Local files and PKCS#11 tokens are opened now; network
    /// services are not contacted (call [`KeyBackend::health`] for that), so a
    /// process can start while its KMS is briefly away.
    pub async fn build(&self) -> Result<Arc<dyn KeyBackend>> {
        Ok(match self {
            BackendConfig::Local(c) => Arc::new(LocalBackend::from_config(c)?),
            BackendConfig::Vault(c) => Arc::new(VaultBackend::new(c)?),
            BackendConfig::AwsKms(c) => Arc::new(AwsKmsBackend::new(c)?),
            #[cfg(feature = "pkcs11")]
            BackendConfig::Pkcs11(c) => Arc::new(crate::pkcs11::Pkcs11Backend::open(c.clone()).await?),
            #[cfg(not(feature = "pkcs11"))]
            BackendConfig::Pkcs11(_) => {
                return Err(KeyError::config(
                    "pkcs11",
                    "pkcs11",
                    "this build has no PKCS#11 support (it is compiled in with the `pkcs11` cargo feature)",
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_blocks_parse() {
        let c = BackendConfig::from_yaml(
            "vault:\n  address: http://127.0.0.1:8200\n  key: k\n  auth:\n    method: approle\n    role_id: r\n    secret_id_file: /s\n  retry: { timeout_ms: 500, attempts: 2 }\n",
            None,
        )
        .unwrap();
        let BackendConfig::Vault(v) = c else { panic!() };
        assert_eq!(v.mount, "transit");
        assert_eq!(v.retry.as_ref().map(|r| r.attempts), Some(2));
        assert!(
            matches!(v.auth, crate::vault::VaultAuth::Approle { ref mount, .. } if mount == "approle")
        );

        let c = BackendConfig::from_json(
            r#"{"aws_kms": {"key": "alias/x", "encryption_context": {"a": "b"}}}"#,
            None,
        )
        .unwrap();
        assert_eq!(c.kind(), "aws-kms");
        let c = BackendConfig::from_yaml(
            "pkcs11: {module: /m.so, token_label: T, key_label: K, pin_file: /p}",
            None,
        )
        .unwrap();
        let BackendConfig::Pkcs11(p) = c else {
            panic!()
        };
        assert_eq!((p.sessions, p.retry_policy().attempts), (4, 1));
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            BackendConfig::from_yaml("vault:\n  adress: http://x\n  key: k\n", Some("kms.yaml"))
                .unwrap_err()
                .to_string();
        assert!(e.contains("adress") && e.contains("kms.yaml"), "{e}");
        let e = BackendConfig::from_yaml("vault:\n  address: http://x\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("key"), "{e}");
        let e = BackendConfig::from_yaml(
            "local:\n  key_file: /k\n  allow_insecure_permissions: maybe\n",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("allow_insecure_permissions") || e.contains("line 3"),
            "{e}"
        );
        let e = BackendConfig::from_yaml("gcp: {}\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("gcp"), "{e}");
        let e = BackendConfig::from_yaml("{}", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no backend block"), "{e}");
        let e = BackendConfig::from_yaml("local: {key_file: /k}\nvault: {key: k}\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("exactly one"), "{e}");
        let e = BackendConfig::from_yaml("vault:\n  key: k\n  auth: { method: ldap }\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ldap"), "{e}");
    }

    #[test]
    fn random_documents_never_panic() {
        let mut buf = [0u8; 64];
        for _ in 0..500 {
            ksec_crypto::rand::fill(&mut buf).unwrap();
            let s = String::from_utf8_lossy(&buf);
            let _ = BackendConfig::from_yaml(&s, None);
            let _ = BackendConfig::from_json(&s, None);
        }
    }
}
