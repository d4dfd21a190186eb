//! Vault authentication: a static token (env or file), AppRole, or a Kubernetes
//! service-account token; renewal of the token before it expires, and a fresh
//! login when renewal is impossible.
use super::{VaultClient, KIND};
use crate::{KeyError, Result, SecretBytes};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How the backend authenticates to Vault (`auth:` block, tagged by `method`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum VaultAuth {
    /// A token from a file, or from an environment variable (`VAULT_TOKEN`, then `BAO_TOKEN`).
    Token {
        /// File holding the token (read at each login, so a rotated file is picked up).
        #[serde(default)]
        token_file: Option<PathBuf>,
        /// Environment variable holding the token (default `VAULT_TOKEN`, then `BAO_TOKEN`).
        #[serde(default)]
        token_env: Option<String>,
    },
    /// AppRole: a role id and a secret id (from a file or an environment variable).
    Approle {
        /// Mount path of the AppRole auth method.
        #[serde(default = "approle_mount")]
        mount: String,
        /// The role id (not secret).
        role_id: String,
        /// File holding the secret id.
        #[serde(default)]
        secret_id_file: Option<PathBuf>,
        /// Environment variable holding the secret id (default `VAULT_SECRET_ID`).
        #[serde(default)]
        secret_id_env: Option<String>,
    },
    /// Kubernetes: the pod's service-account JWT, exchanged for a token by a Vault role.
    Kubernetes {
        /// Mount path of the Kubernetes auth method.
        #[serde(default = "kubernetes_mount")]
        mount: String,
        /// The Vault role bound to the service account.
        role: String,
        /// The service-account token file.
        #[serde(default = "sa_token_file")]
        jwt_file: PathBuf,
    },
}

fn approle_mount() -> String {
    "approle".into()
}
fn kubernetes_mount() -> String {
    "kubernetes".into()
}
fn sa_token_file() -> PathBuf {
    "/var/run/secrets/kubernetes.io/serviceaccount/token".into()
}

impl Default for VaultAuth {
    fn default() -> Self {
        VaultAuth::Token {
            token_file: None,
            token_env: None,
        }
    }
}

impl VaultAuth {
    /// AppRole login at the default mount (`approle`), the secret id read from
    /// `secret_id_file` (else from `VAULT_SECRET_ID`).
    pub fn approle(role_id: impl Into<String>, secret_id_file: Option<PathBuf>) -> Self {
        VaultAuth::Approle {
            mount: approle_mount(),
            role_id: role_id.into(),
            secret_id_file,
            secret_id_env: None,
        }
    }

    /// Kubernetes login at the default mount (`kubernetes`) with the pod's
    /// service-account token, under the Vault role `role`.
    pub fn kubernetes(role: impl Into<String>) -> Self {
        VaultAuth::Kubernetes {
            mount: kubernetes_mount(),
            role: role.into(),
            jwt_file: sa_token_file(),
        }
    }

    /// Whether a fresh login is possible (a static token cannot be re-issued).
    pub(crate) fn can_login(&self) -> bool {
        !matches!(self, VaultAuth::Token { .. })
    }
}

/// A token and what Vault said about its lifetime.
pub(crate) struct Token {
    pub(crate) value: SecretBytes,
    /// None: never expires (a root token, ttl 0).
    expires: Option<Instant>,
    ttl: Duration,
    renewable: bool,
}

impl Token {
    fn from_auth(value: SecretBytes, ttl_secs: u64, renewable: bool) -> Self {
        let ttl = Duration::from_secs(ttl_secs);
        Self {
            value,
            expires: (ttl_secs > 0).then(|| Instant::now() + ttl),
            ttl,
            renewable,
        }
    }

    /// Renew when less than a third of the lifetime is left.
    fn needs_renewal(&self) -> bool {
        match self.expires {
            None => false,
            Some(at) => at.saturating_duration_since(Instant::now()) < self.ttl / 3,
        }
    }
}

fn read_secret_file(field: &str, path: &PathBuf) -> Result<SecretBytes> {
    let bytes = std::fs::read(path).map_err(|e| {
        KeyError::config(KIND, field, format!("cannot read {}: {e}", path.display()))
    })?;
    let bytes = SecretBytes::new(bytes);
    let trimmed = bytes.expose().trim_ascii();
    if trimmed.is_empty() {
        return Err(KeyError::config(
            KIND,
            field,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(SecretBytes::from_slice(trimmed))
}

fn read_secret_env(field: &str, vars: &[&str]) -> Result<SecretBytes> {
    for v in vars {
        if let Ok(s) = std::env::var(v) {
            if !s.trim().is_empty() {
                return Ok(SecretBytes::new(s.trim().as_bytes().to_vec()));
            }
        }
    }
    Err(KeyError::config(
        KIND,
        field,
        format!("no token: set {} or configure a file", vars.join(" or ")),
    ))
}

#[derive(Deserialize)]
struct AuthBlock {
    client_token: String,
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
}

#[derive(Deserialize)]
struct AuthResponse {
    auth: AuthBlock,
}

#[derive(Deserialize)]
struct LookupData {
    #[serde(default)]
    ttl: u64,
    #[serde(default)]
    renewable: bool,
}

#[derive(Deserialize)]
struct LookupResponse {
    data: LookupData,
}

impl VaultClient {
    /// A valid token: logs in when there is none, renews it when it is about to
    /// expire, and logs in again when renewal fails and the method allows it.
    pub(crate) async fn token(&self) -> Result<SecretBytes> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref() {
            if !t.needs_renewal() {
                return Ok(t.value.clone());
            }
            if t.renewable {
                match self.renew(&t.value).await {
                    Ok(new) => {
                        tracing::debug!(backend = KIND, "token renewed");
                        let v = new.value.clone();
                        *guard = Some(new);
                        return Ok(v);
                    }
                    Err(e) if !self.auth.can_login() => return Err(e),
                    Err(e) => {
                        tracing::warn!(backend = KIND, error = %e, "token renewal failed; logging in again")
                    }
                }
            } else if !self.auth.can_login() {
                return Ok(t.value.clone());
            }
        }
        let t = self.login().await?;
        let v = t.value.clone();
        *guard = Some(t);
        Ok(v)
    }

    /// Forgets the token (after a 403) so the next call logs in again.
    pub(crate) async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    async fn login(&self) -> Result<Token> {
        match &self.auth {
            VaultAuth::Token {
                token_file,
                token_env,
            } => {
                let value = match (token_file, token_env) {
                    (Some(f), _) => read_secret_file("vault.auth.token_file", f)?,
                    (None, Some(v)) => read_secret_env("vault.auth.token_env", &[v])?,
                    (None, None) => read_secret_env("vault.auth", &["VAULT_TOKEN", "BAO_TOKEN"])?,
                };
                // Learn the lifetime, so that renewal happens in time.
                let r: LookupResponse = self
                    .send_json(
                        reqwest::Method::GET,
                        "auth/token/lookup-self",
                        Some(&value),
                        None,
                    )
                    .await?;
                Ok(Token::from_auth(value, r.data.ttl, r.data.renewable))
            }
            VaultAuth::Approle {
                mount,
                role_id,
                secret_id_file,
                secret_id_env,
            } => {
                let secret_id = match (secret_id_file, secret_id_env) {
                    (Some(f), _) => read_secret_file("vault.auth.secret_id_file", f)?,
                    (None, Some(v)) => read_secret_env("vault.auth.secret_id_env", &[v])?,
                    (None, None) => {
                        read_secret_env("vault.auth.secret_id_env", &["VAULT_SECRET_ID"])?
                    }
                };
                let body = serde_json::json!({
                    "role_id": role_id,
                    "secret_id": String::from_utf8_lossy(secret_id.expose()),
                });
                self.login_with(&format!("auth/{mount}/login"), body).await
            }
            VaultAuth::Kubernetes {
                mount,
                role,
                jwt_file,
            } => {
                let jwt = read_secret_file("vault.auth.jwt_file", jwt_file)?;
                let body = serde_json::json!({
                    "role": role,
                    "jwt": String::from_utf8_lossy(jwt.expose()),
                });
                self.login_with(&format!("auth/{mount}/login"), body).await
            }
        }
    }

    async fn login_with(&self, path: &str, body: serde_json::Value) -> Result<Token> {
        let body = SecretBytes::new(serde_json::to_vec(&body).unwrap_or_default());
        let r: AuthResponse = self
            .send_json(reqwest::Method::POST, path, None, Some(body))
            .await
            .map_err(|e| match e {
                KeyError::Service {
                    status: Some(400 | 403),
                    message,
                    ..
                } => KeyError::Auth {
                    backend: KIND,
                    message: format!("login at {path} refused: {message}"),
                },
                e => e,
            })?;
        tracing::debug!(
            backend = KIND,
            path,
            ttl = r.auth.lease_duration,
            "logged in"
        );
        Ok(Token::from_auth(
            SecretBytes::new(r.auth.client_token.into_bytes()),
            r.auth.lease_duration,
            r.auth.renewable,
        ))
    }

    async fn renew(&self, token: &SecretBytes) -> Result<Token> {
        let r: AuthResponse = self
            .send_json(
                reqwest::Method::POST,
                "auth/token/renew-self",
                Some(token),
                Some(SecretBytes::new(b"{}".to_vec())),
            )
            .await?;
        Ok(Token::from_auth(
            SecretBytes::new(r.auth.client_token.into_bytes()),
            r.auth.lease_duration,
            r.auth.renewable,
        ))
    }
}
