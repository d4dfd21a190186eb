//! HashiCorp Vault / OpenBao Transit.
//!
//! Wraps with `POST /v1/<mount>/encrypt/<key>` and unwraps with `…/decrypt/<key>`;
//! the ciphertext is Transit's own `vault:vN:<base64>` text (as bytes), so
//! `bao write transit/decrypt/<key>` or sops can read it too. The version prefix
//! tells Transit which key version to use, so ciphertexts of older versions unwrap
//! after a rotation (down to the key's `min_decryption_version`).
//!
//! The [`WrapContext`] is sent as Transit's `associated_data` (AES-GCM AAD), or as
//! the key-derivation `context` when the key was created with `derived=true`
//! (`derived: true` in the configuration).
//!
//! The key id is `vault:<mount>/<key>:v<latest version>` (with the namespace in front
//! when one is set). It is learnt at connect, on every wrap and on every health check.
//! The Vault address is deliberately not part of it: moving Vault behind another
//! host name must not look like a key rotation.
mod auth;

pub use auth::VaultAuth;

use crate::error::truncate;
use crate::{
    http, Health, KeyBackend, KeyError, KeyId, Result, RetryPolicy, SecretBytes, WrapContext,
    WrappedKey,
};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) const KIND: &str = "vault";

/// Configuration of the Vault Transit backend (`vault:` block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// Vault address (`https://vault:8200`); default `$VAULT_ADDR`, then `$BAO_ADDR`.
    #[serde(default)]
    pub address: Option<String>,
    /// Mount path of the Transit engine.
    #[serde(default = "default_mount")]
    pub mount: String,
    /// Transit key name.
    pub key: String,
    /// Vault Enterprise / OpenBao namespace (`X-Vault-Namespace` on every request);
    /// default `$VAULT_NAMESPACE`, as Vault's own clients read it.
    #[serde(default)]
    pub namespace: Option<String>,
    /// How to authenticate (default: a token from `VAULT_TOKEN`).
    #[serde(default)]
    pub auth: VaultAuth,
    /// PEM bundle of CA certificates to trust for TLS (default `$VAULT_CACERT`).
    /// `VAULT_SKIP_VERIFY=true` in the environment turns certificate checks off,
    /// as with Vault's own clients.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The Transit key is a derived key: send the context as `context`, not `associated_data`.
    #[serde(default)]
    pub derived: bool,
    /// Timeouts and retries; `None` leaves them to the caller ([`RetryPolicy::default`]
    /// when the backend is built as configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
}

fn default_mount() -> String {
    "transit".into()
}

impl VaultConfig {
    /// A configuration with defaults for everything but the key name.
    pub fn new(address: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            address: Some(address.into()),
            mount: default_mount(),
            key: key.into(),
            namespace: None,
            auth: VaultAuth::default(),
            ca_file: None,
            derived: false,
            retry: None,
        }
    }
}

/// The HTTP side: address, auth, token state.
pub(crate) struct VaultClient {
    http: reqwest::Client,
    base: String,
    namespace: Option<String>,
    auth: VaultAuth,
    token: tokio::sync::Mutex<Option<auth::Token>>,
}

#[derive(Deserialize)]
struct VaultErrors {
    #[serde(default)]
    errors: Vec<String>,
}

impl VaultClient {
    /// Sends one request; `body` is JSON. Maps HTTP failures to typed errors.
    async fn send_json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&SecretBytes>,
        body: Option<SecretBytes>,
    ) -> Result<T> {
        let url = format!("{}/v1/{}", self.base, path);
        let mut req = self.http.request(method, &url);
        if let Some(t) = token {
            let header = reqwest::header::HeaderValue::from_bytes(t.expose()).map_err(|_| {
                KeyError::Auth {
                    backend: KIND,
                    message: "the token contains characters not allowed in an HTTP header".into(),
                }
            })?;
            let mut header = header;
            header.set_sensitive(true);
            req = req.header("X-Vault-Token", header);
        }
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.expose().to_vec());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| http::transport_error(KIND, &self.base, e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| http::transport_error(KIND, &self.base, e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| KeyError::Service {
                backend: KIND,
                status: Some(status.as_u16()),
                message: format!("unexpected answer from {path}: {e}"),
                transient: false,
            });
        }
        let message = serde_json::from_slice::<VaultErrors>(&bytes)
            .ok()
            .filter(|e| !e.errors.is_empty())
            .map(|e| e.errors.join("; "))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        let message = truncate(&message);
        let code = status.as_u16();
        Err(match code {
            403 => KeyError::Auth {
                backend: KIND,
                message: format!("{path}: {message} (check the token and its policy)"),
            },
            // 429 rate limited, 5xx (503 = sealed or standby): worth a retry.
            429 | 500..=599 => KeyError::Service {
                backend: KIND,
                status: Some(code),
                message,
                transient: true,
            },
            _ => KeyError::Service {
                backend: KIND,
                status: Some(code),
                message,
                transient: false,
            },
        })
    }

    /// An authenticated request; after a 403 with a login method, logs in once more.
    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<SecretBytes>,
    ) -> Result<T> {
        let token = self.token().await?;
        match self
            .send_json(method.clone(), path, Some(&token), body.clone())
            .await
        {
            Err(KeyError::Auth { .. }) if self.auth.can_login() => {
                self.forget_token().await;
                let token = self.token().await?;
                self.send_json(method, path, Some(&token), body).await
            }
            r => r,
        }
    }
}

/// Vault / OpenBao Transit as a [`KeyBackend`].
pub struct VaultBackend {
    client: VaultClient,
    mount: String,
    key: String,
    derived: bool,
    retry: RetryPolicy,
    latest_version: AtomicU64,
}

impl std::fmt::Debug for VaultBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultBackend")
            .field("address", &self.client.base)
            .field("mount", &self.mount)
            .field("key", &self.key)
            .field(
                "latest_version",
                &self.latest_version.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

#[derive(Deserialize)]
struct KeyInfo {
    latest_version: u64,
    #[serde(default)]
    derived: bool,
    #[serde(rename = "type", default)]
    key_type: String,
}

#[derive(Deserialize)]
struct EncryptOut {
    ciphertext: String,
    #[serde(default)]
    key_version: Option<u64>,
}

#[derive(Deserialize)]
struct DecryptOut {
    plaintext: String,
}

impl VaultBackend {
    /// Builds the backend without contacting Vault (the key id shows version 0
    /// until the first wrap or health check). Checks the configuration.
    pub fn new(cfg: &VaultConfig) -> Result<Self> {
        let address = cfg
            .address
            .clone()
            .or_else(|| std::env::var("VAULT_ADDR").ok())
            .or_else(|| std::env::var("BAO_ADDR").ok())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                KeyError::config(KIND, "vault.address", "missing (or set VAULT_ADDR)")
            })?;
        let parsed = reqwest::Url::parse(&address).map_err(|e| {
            KeyError::config(
                KIND,
                "vault.address",
                format!("`{address}` is not a URL: {e}"),
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(KeyError::config(
                KIND,
                "vault.address",
                format!("`{address}` must start with https:// (or http:// for a dev server)"),
            ));
        }
        let valid_name = |s: &str| {
            !s.is_empty()
                && s.split('/').all(|p| {
                    !p.is_empty()
                        && p != ".."
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                })
        };
        if !valid_name(&cfg.key) {
            return Err(KeyError::config(
                KIND,
                "vault.key",
                format!("`{}` is not a valid Transit key name", cfg.key),
            ));
        }
        let mount = cfg.mount.trim_matches('/').to_string();
        if !valid_name(&mount) {
            return Err(KeyError::config(
                KIND,
                "vault.mount",
                format!("`{}` is not a valid mount path", cfg.mount),
            ));
        }
        let ca = cfg
            .ca_file
            .clone()
            .or_else(|| std::env::var_os("VAULT_CACERT").map(PathBuf::from));
        let http = match skip_verify()? {
            false => http::client(KIND, "vault.ca_file", ca.as_deref())?,
            true => {
                tracing::warn!(backend = KIND, address = %address, "VAULT_SKIP_VERIFY is set: the Vault server's certificate is not checked");
                http::insecure_client(KIND, "VAULT_SKIP_VERIFY")?
            }
        };
        Ok(Self {
            client: VaultClient {
                http,
                base: address.trim_end_matches('/').to_string(),
                namespace: namespace(
                    cfg.namespace.as_deref(),
                    std::env::var("VAULT_NAMESPACE").ok().as_deref(),
                ),
                auth: cfg.auth.clone(),
                token: tokio::sync::Mutex::new(None),
            },
            mount,
            key: cfg.key.clone(),
            derived: cfg.derived,
            retry: cfg.retry.clone().unwrap_or_default(),
            latest_version: AtomicU64::new(0),
        })
    }

    /// Builds the backend, logs in and reads the key (its latest version).
    pub async fn connect(cfg: &VaultConfig) -> Result<Self> {
        let b = Self::new(cfg)?;
        b.read_key().await?;
        Ok(b)
    }

    async fn read_key(&self) -> Result<KeyInfo> {
        let path = format!("{}/keys/{}", self.mount, self.key);
        let info: Data<KeyInfo> = self
            .retry
            .run(KIND, "read key", || {
                self.client.call(reqwest::Method::GET, &path, None)
            })
            .await
            .map_err(|e| match e {
                KeyError::Service {
                    status: Some(404), ..
                } => KeyError::Key {
                    backend: KIND,
                    key: format!("{}/{}", self.mount, self.key),
                    message: format!(
                        "no such Transit key; create it with `vault write -f {}/keys/{}`",
                        self.mount, self.key
                    ),
                },
                e => e,
            })?;
        if info.data.derived != self.derived {
            return Err(KeyError::config(
                KIND,
                "vault.derived",
                format!(
                    "the Transit key {} has derived={}, the configuration says {}",
                    self.key, info.data.derived, self.derived
                ),
            ));
        }
        self.latest_version
            .fetch_max(info.data.latest_version, Ordering::Relaxed);
        tracing::debug!(backend = KIND, key = %self.key, version = info.data.latest_version, key_type = %info.data.key_type, "read transit key");
        Ok(info.data)
    }

    fn context_field(
        &self,
        ctx: &WrapContext,
        body: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        if ctx.is_empty() && !self.derived {
            return;
        }
        let name = if self.derived {
            "context"
        } else {
            "associated_data"
        };
        body.insert(name.into(), B64.encode(ctx.aad()).into());
    }
}

/// `VAULT_SKIP_VERIFY`, as Vault's own clients read it (Go's `strconv.ParseBool`):
/// set to true, the server's certificate is not checked (a test server with a
/// self-signed certificate). A value that is not a boolean is an error.
fn skip_verify() -> Result<bool> {
    parse_skip_verify(std::env::var("VAULT_SKIP_VERIFY").ok().as_deref())
}

fn parse_skip_verify(value: Option<&str>) -> Result<bool> {
    match value.unwrap_or("") {
        "" => Ok(false),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(KeyError::config(
            KIND,
            "VAULT_SKIP_VERIFY",
            format!("`{other}` is not a boolean (true or false)"),
        )),
    }
}

/// `vault:v12:…` → 12.
fn ciphertext_version(ct: &str) -> Option<u64> {
    let rest = ct.strip_prefix("vault:v")?;
    let (v, _) = rest.split_once(':')?;
    v.parse().ok()
}

/// The namespace: the configuration's, else `VAULT_NAMESPACE`'s; empty or only
/// slashes means none (the root namespace).
fn namespace(configured: Option<&str>, env: Option<&str>) -> Option<String> {
    configured
        .or(env)
        .map(|n| n.trim().trim_matches('/'))
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

#[async_trait::async_trait]
impl KeyBackend for VaultBackend {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn key_id(&self) -> KeyId {
        let v = self.latest_version.load(Ordering::Relaxed);
        match &self.client.namespace {
            Some(ns) => KeyId::new(format!("vault:{ns}/{}/{}:v{v}", self.mount, self.key)),
            None => KeyId::new(format!("vault:{}/{}:v{v}", self.mount, self.key)),
        }
    }

    async fn wrap(&self, dek: &SecretBytes, ctx: &WrapContext) -> Result<WrappedKey> {
        let path = format!("{}/encrypt/{}", self.mount, self.key);
        let out: Data<EncryptOut> = self
            .retry
            .run(KIND, "wrap", || {
                let mut body = serde_json::Map::new();
                body.insert("plaintext".into(), B64.encode(dek.expose()).into());
                self.context_field(ctx, &mut body);
                let body = SecretBytes::new(serde_json::to_vec(&body).unwrap_or_default());
                self.client.call(reqwest::Method::POST, &path, Some(body))
            })
            .await?;
        let version = out
            .data
            .key_version
            .or_else(|| ciphertext_version(&out.data.ciphertext))
            .ok_or_else(|| KeyError::Service {
                backend: KIND,
                status: None,
                message: "the encrypt answer carries no key version".into(),
                transient: false,
            })?;
        self.latest_version.fetch_max(version, Ordering::Relaxed);
        let key_id = match &self.client.namespace {
            Some(ns) => KeyId::new(format!("vault:{ns}/{}/{}:v{version}", self.mount, self.key)),
            None => KeyId::new(format!("vault:{}/{}:v{version}", self.mount, self.key)),
        };
        Ok(WrappedKey {
            key_id,
            ciphertext: out.data.ciphertext.into_bytes(),
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<SecretBytes> {
        let ct = std::str::from_utf8(&wrapped.ciphertext)
            .ok()
            .filter(|s| ciphertext_version(s).is_some())
            .ok_or_else(|| KeyError::Unwrap {
                backend: KIND,
                message: "not a Transit ciphertext (expected `vault:v<N>:<base64>`)".into(),
            })?;
        let path = format!("{}/decrypt/{}", self.mount, self.key);
        let out: Data<DecryptOut> = self
            .retry
            .run(KIND, "unwrap", || {
                let mut body = serde_json::Map::new();
                body.insert("ciphertext".into(), ct.into());
                self.context_field(ctx, &mut body);
                let body = SecretBytes::new(serde_json::to_vec(&body).unwrap_or_default());
                self.client.call(reqwest::Method::POST, &path, Some(body))
            })
            .await
            .map_err(|e| match e {
                KeyError::Service {
                    status: Some(400),
                    message,
                    ..
                } => KeyError::Unwrap {
                    backend: KIND,
                    message: format!(
                        "Transit refused the ciphertext ({message}): another key or version, another context, or altered data"
                    ),
                },
                e => e,
            })?;
        let plain = SecretBytes::new(out.data.plaintext.into_bytes());
        B64.decode(plain.expose())
            .map(SecretBytes::new)
            .map_err(|_| KeyError::Service {
                backend: KIND,
                status: None,
                message: "the decrypt answer is not base64".into(),
                transient: false,
            })
    }

    async fn health(&self) -> Result<Health> {
        let info = self.read_key().await?;
        crate::probe_round_trip(self).await?;
        Ok(Health {
            key_id: self.key_id(),
            detail: format!(
                "transit key {} ({}), latest version {}",
                self.key, info.key_type, info.latest_version
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_from_config_then_vault_namespace() {
        assert_eq!(
            namespace(Some("team"), Some("other")).as_deref(),
            Some("team")
        );
        assert_eq!(
            namespace(None, Some("team/sub/")).as_deref(),
            Some("team/sub")
        );
        assert_eq!(namespace(None, Some("")), None);
        assert_eq!(namespace(Some("/"), None), None);
        assert_eq!(namespace(None, None), None);
    }

    #[test]
    fn skip_verify_reads_booleans_as_go_does() {
        for t in ["1", "t", "T", "true", "TRUE", "True"] {
            assert!(parse_skip_verify(Some(t)).unwrap(), "{t}");
        }
        for f in ["0", "f", "F", "false", "FALSE", "False", ""] {
            assert!(!parse_skip_verify(Some(f)).unwrap(), "{f}");
        }
        assert!(!parse_skip_verify(None).unwrap());
        let err = parse_skip_verify(Some("yes")).unwrap_err().to_string();
        assert!(
            err.contains("VAULT_SKIP_VERIFY") && err.contains("yes"),
            "{err}"
        );
    }

    #[test]
    fn versions_parse() {
        assert_eq!(ciphertext_version("vault:v12:abc"), Some(12));
        assert_eq!(ciphertext_version("vault:v:abc"), None);
        assert_eq!(ciphertext_version("vault:12:abc"), None);
    }

    #[test]
    fn config_errors_name_the_field() {
        let mut c = VaultConfig::new("ftp://x", "k");
        assert!(VaultBackend::new(&c)
            .unwrap_err()
            .to_string()
            .contains("vault.address"));
        c.address = Some("http://127.0.0.1:1".into());
        c.key = "../sys".into();
        assert!(VaultBackend::new(&c)
            .unwrap_err()
            .to_string()
            .contains("vault.key"));
        c.key = "k".into();
        c.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(VaultBackend::new(&c)
            .unwrap_err()
            .to_string()
            .contains("vault.ca_file"));
    }
}
