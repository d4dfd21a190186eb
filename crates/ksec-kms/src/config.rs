//! The plugin's configuration file (`kms.yaml`):
//!
//! ```yaml
//! socket: /var/run/kmsplugin/kms.sock
//! health_addr: 127.0.0.1:8787
//! health_ok_ttl_ms: 20000
//! health_fail_ttl_ms: 2000
//! call_timeout: 3s
//! backend:
//!   vault: { address: https://vault:8200, key: kube, auth: { method: kubernetes, role: kms } }
//! ```
//! The `backend` block is a [`ksec_keys::BackendConfig`]. A file holding only a
//! backend block at the top level (`local: {key_file: …}`) is accepted too, with the
//! socket and health address set elsewhere ([`Overrides`]). Unknown fields are errors.
//!
//! **One budget per call, whatever the source.** kube-apiserver gives each KMS call
//! `call_timeout` (its EncryptionConfiguration `timeout`, 3 s by default). A backend
//! block that sets no `retry` gets a policy that fits in it
//! ([`ksec_keys::BackendConfig::set_call_budget`]: 1 s × 2 tries for Vault and AWS
//! KMS, 1.5 s × 1 for PKCS#11), the same whether the block came from a file or was
//! built in code; [`PluginConfig::backend_config`] is what the plugin builds.
use crate::Error;
use ksec_keys::BackendConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// kube-apiserver's default time for one KMS call (EncryptionConfiguration `timeout`).
pub const APISERVER_CALL_TIMEOUT: Duration = Duration::from_secs(3);

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
    /// The time kube-apiserver gives one call (Go duration syntax, `3s`); backend
    /// blocks without `retry` get a retry policy that fits in it.
    #[serde(default = "call_timeout", with = "go_duration")]
    pub call_timeout: Duration,
    /// The key backend.
    pub backend: BackendConfig,
}

fn call_timeout() -> Duration {
    APISERVER_CALL_TIMEOUT
}

/// Durations in Go's syntax (`3s`, `1500ms`), as Kubernetes configuration writes them.
mod go_duration {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        let text = if d.subsec_nanos() == 0 {
            format!("{}s", d.as_secs())
        } else if d.subsec_nanos().is_multiple_of(1_000_000) {
            format!("{}ms", d.as_millis())
        } else {
            format!("{}ns", d.as_nanos())
        };
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        match ksec_text::parse_duration(&text) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => Err(D::Error::custom("call_timeout must be more than 0")),
            Err(e) => Err(D::Error::custom(e)),
        }
    }
}

fn ok_ttl() -> u64 {
    20_000
}
fn fail_ttl() -> u64 {
    2_000
}

impl PluginConfig {
    /// Defaults around a backend.
    pub fn new(backend: BackendConfig) -> Self {
        Self {
            socket: None,
            health_addr: None,
            health_ok_ttl_ms: ok_ttl(),
            health_fail_ttl_ms: fail_ttl(),
            call_timeout: call_timeout(),
            backend,
        }
    }

    /// The backend block as the plugin builds it: a block without its own `retry`
    /// gets a policy that fits [`call_timeout`](Self::call_timeout).
    pub fn backend_config(&self) -> BackendConfig {
        let mut b = self.backend.clone();
        b.set_call_budget(self.call_timeout);
        b
    }

    /// How long a healthy check result is reused.
    pub fn health_ok_ttl(&self) -> Duration {
        Duration::from_millis(self.health_ok_ttl_ms)
    }

    /// How long a failed check result is reused.
    pub fn health_fail_ttl(&self) -> Duration {
        Duration::from_millis(self.health_fail_ttl_ms)
    }

    /// Parses YAML (or JSON) text: either this document, or just a backend block
    /// at the top level (`local: {key_file: …}`), which then gets the defaults.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, Error> {
        let err = |e: String| Error::Config {
            origin: origin.to_string(),
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
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            origin: origin.clone(),
            message: format!("cannot read: {e}"),
        })?;
        Self::from_yaml(&text, &origin)
    }
}

/// Settings laid over a configuration file (`ksec kms serve` fills them from its
/// flags). `None` keeps the file's value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The unix socket.
    pub socket: Option<PathBuf>,
    /// `HOST:PORT` of the health and metrics endpoints.
    pub health_addr: Option<String>,
    /// The time kube-apiserver gives one call.
    pub call_timeout: Option<Duration>,
    /// A backend block that replaces the file's.
    pub backend: Option<BackendConfig>,
}

impl Overrides {
    /// Lays these settings over `config`.
    pub fn apply(&self, config: &mut PluginConfig) {
        if let Some(s) = &self.socket {
            config.socket = Some(s.clone());
        }
        if let Some(a) = &self.health_addr {
            config.health_addr = Some(a.clone());
        }
        if let Some(t) = self.call_timeout {
            config.call_timeout = t;
        }
        if let Some(b) = &self.backend {
            config.backend = b.clone();
        }
    }
}

/// Where the plugin's configuration comes from. The plugin resolves it when it
/// starts and again on every reload (SIGHUP, a watched file changed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// A configuration given whole. A reload builds the backend again from it (so
    /// a local key file is read again).
    Fixed(PluginConfig),
    /// A configuration file, read again on every reload, with settings laid over it.
    File {
        /// The file (YAML or JSON).
        path: PathBuf,
        /// Settings that win over the file's.
        overrides: Overrides,
    },
}

impl ConfigSource {
    /// The configuration as it stands now.
    pub fn resolve(&self) -> Result<PluginConfig, Error> {
        match self {
            ConfigSource::Fixed(c) => Ok(c.clone()),
            ConfigSource::File { path, overrides } => {
                let mut c = PluginConfig::from_file(path)?;
                overrides.apply(&mut c);
                Ok(c)
            }
        }
    }

    /// The files whose change triggers a reload: the configuration file, and the
    /// key file of a local backend.
    pub fn watched_files(&self, resolved: &PluginConfig) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if let ConfigSource::File { path, .. } = self {
            files.push(path.clone());
        }
        if let BackendConfig::Local(l) = &resolved.backend {
            files.push(l.key_file.clone());
        }
        files
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

    #[test]
    fn one_call_budget_whatever_the_source() {
        use ksec_keys::vault::VaultConfig;
        use ksec_keys::RetryPolicy;
        // The apiserver's 3 s: two tries of 1 s, pauses of 50 to 200 ms.
        let apiserver = RetryPolicy {
            timeout: Duration::from_secs(1),
            attempts: 2,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kms.yaml");
        std::fs::write(
            &file,
            "socket: /s\nbackend:\n  vault: {address: http://127.0.0.1:8200, key: kube}\n",
        )
        .unwrap();
        let from_file = ConfigSource::File {
            path: file.clone(),
            overrides: Overrides::default(),
        }
        .resolve()
        .unwrap();
        let in_code = ConfigSource::Fixed(PluginConfig::new(BackendConfig::Vault(
            VaultConfig::new("http://127.0.0.1:8200", "kube"),
        )))
        .resolve()
        .unwrap();
        assert_eq!(from_file.backend_config().retry(), Some(&apiserver));
        assert_eq!(in_code.backend_config().retry(), Some(&apiserver));
        assert_eq!(from_file.backend_config(), in_code.backend_config());

        // A longer apiserver timeout stretches the budget; a block's own retry wins.
        std::fs::write(
            &file,
            "call_timeout: 6s\nbackend:\n  aws_kms: {key: alias/k, retry: {timeout_ms: 250, attempts: 5}}\n",
        )
        .unwrap();
        let c = PluginConfig::from_file(&file).unwrap();
        assert_eq!(c.call_timeout, Duration::from_secs(6));
        let own = c.backend_config();
        assert_eq!(
            own.retry().map(|r| (r.timeout, r.attempts)),
            Some((Duration::from_millis(250), 5))
        );
        let mut c = c;
        c.backend = BackendConfig::from_yaml("aws_kms: {key: alias/k}", None).unwrap();
        assert_eq!(
            c.backend_config().retry(),
            Some(&RetryPolicy::within(Duration::from_secs(6), 2))
        );
        // Overrides win over the file.
        let over = ConfigSource::File {
            path: file.clone(),
            overrides: Overrides {
                socket: Some("/o".into()),
                call_timeout: Some(Duration::from_secs(3)),
                ..Overrides::default()
            },
        };
        let c = over.resolve().unwrap();
        assert_eq!(
            (c.socket.as_deref(), c.call_timeout),
            (Some(Path::new("/o")), APISERVER_CALL_TIMEOUT)
        );
        assert_eq!(over.watched_files(&c), std::slice::from_ref(&file));
        let e = PluginConfig::from_yaml(
            "call_timeout: 3y\nbackend:\n  local: {key_file: /k}\n",
            "kms.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("kms.yaml") && e.contains("3y"), "{e}");
    }
}
