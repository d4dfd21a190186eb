//! The plugin's configuration file (`ksec kms serve --config kms.yaml`):
//!
//! ```yaml
//! socket: /var/run/kmsplugin/kms.sock
//! health_addr: 127.0.0.1:8787
//! health_ok_ttl_ms: 20000
//! health_fail_ttl_ms: 2000
//! backend:
//!   vault: { address: https://vault:8200, key: kube, auth: { method: kubernetes, role: kms } }
//! ```
//! The `backend` block is a [`ksec_keys::BackendConfig`]. A file holding only a
//! backend block at the top level (`local: {key_file: …}`) is accepted too, with the
//! socket and health address from the flags. Unknown fields are errors.
use ksec_keys::BackendConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Settings of `ksec kms serve`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The unix socket kube-apiserver connects to.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// `HOST:PORT` of the health and metrics endpoints.
    #[serde(default)]
    pub health_addr: Option<String>,
    /// How long a healthy check result is reused (milliseconds).
    #[serde(default = "ok_ttl")]
    pub health_ok_ttl_ms: u64,
    /// How long a failed check result is reused (milliseconds).
    #[serde(default = "fail_ttl")]
    pub health_fail_ttl_ms: u64,
    /// The key backend.
    pub backend: BackendConfig,
}

fn ok_ttl() -> u64 {
    20_000
}
fn fail_ttl() -> u64 {
    2_000
}

/// A configuration file that could not be read or parsed; names the file and field.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// The file.
    pub path: String,
    /// What is wrong (the parser names the field and line).
    pub message: String,
}

impl PluginConfig {
    /// Defaults around a backend.
    pub fn new(backend: BackendConfig) -> Self {
        Self {
            socket: None,
            health_addr: None,
            health_ok_ttl_ms: ok_ttl(),
            health_fail_ttl_ms: fail_ttl(),
            backend,
        }
    }

    /// Parses YAML (or JSON) text: either this document, or just a backend block
    /// at the top level (`local: {key_file: …}`), which then gets the defaults.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let err = |e: String| ConfigError {
            path: origin.to_string(),
            message: e,
        };
        let doc: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| err(e.to_string()))?;
        let bare_backend = doc.as_mapping().is_some_and(|m| {
            !m.contains_key("backend")
                && ["local", "vault", "aws_kms", "pkcs11"]
                    .iter()
                    .any(|k| m.contains_key(*k))
        });
        if bare_backend {
            return BackendConfig::from_yaml(text, Some(origin))
                .map(Self::new)
                .map_err(|e| err(e.to_string()));
        }
        serde_norway::from_value(doc).map_err(|e| err(e.to_string()))
    }

    /// Reads a file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: origin.clone(),
            message: format!("cannot read: {e}"),
        })?;
        Self::from_yaml(&text, &origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_bad_fields() {
        let c = PluginConfig::from_yaml(
            "socket: /s\nbackend:\n  local: {key_file: /k}\n",
            "kms.yaml",
        )
        .unwrap();
        assert_eq!(c.socket.as_deref(), Some(Path::new("/s")));
        assert_eq!(c.health_ok_ttl_ms, 20_000);
        assert_eq!(c.backend.kind(), "local");
        let e =
            PluginConfig::from_yaml("sockt: /s\nbackend:\n  local: {key_file: /k}\n", "kms.yaml")
                .unwrap_err()
                .to_string();
        assert!(e.contains("kms.yaml") && e.contains("sockt"), "{e}");
        let e = PluginConfig::from_yaml("socket: /s\n", "kms.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("backend"), "{e}");
        // A bare backend block, as deploy/kms-plugin's ConfigMap holds.
        let c = PluginConfig::from_yaml(
            "# comment\nlocal:\n  key_file: /etc/ksec/kms-keys\n",
            "kms.yaml",
        )
        .unwrap();
        assert_eq!(c.backend.kind(), "local");
        assert_eq!(c.socket, None);
        let e = PluginConfig::from_yaml("local:\n  key_fil: /k\n", "kms.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key_fil") && e.contains("kms.yaml"), "{e}");
    }
}
