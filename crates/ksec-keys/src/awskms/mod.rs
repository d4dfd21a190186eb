//! AWS KMS, through a lean client that signs its own requests (SigV4).
//!
//! Why not `aws-sdk-kms`: measured on this project's 2-core machine, a cold build of
//! `aws-config` + `aws-sdk-kms` (default features off, rustls) costs several minutes
//! and ~200 more crates, and the SDK needs a newer Rust than the workspace's MSRV,
//! while this client reuses what the workspace already builds (reqwest, aws-lc-rs
//! through `ksec_crypto::hmac`, serde_json) for about 600 lines. The numbers are in
//! the crate README. What it talks: the KMS JSON protocol (`TrentService.Encrypt`,
//! `Decrypt`, `DescribeKey`) and STS for role assumption.
//!
//! Keys: a key ARN, a key id, an alias (`alias/name`) or an alias ARN. **Aliases
//! are risky**: if someone repoints the alias, new data is wrapped by another key,
//! and tools that decrypt "with the alias" fail; a warning is logged. Unwrap sends
//! the configured `KeyId` only when it names a key (not an alias), so KMS checks that
//! the ciphertext belongs to that key.
//!
//! The key id is the key ARN that KMS reports, so it changes when an alias is
//! repointed. The [`WrapContext`] plus the configured `encryption_context` pairs go
//! to KMS as the encryption context; unwrapping under another context fails.
//!
//! Environment: `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL_KMS`,
//! `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, and the credential sources, in the
//! SDKs' order: the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`), a profile of the shared files (`AWS_PROFILE`,
//! `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`; static keys, or `role_arn` with
//! `source_profile`), web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, as
//! EKS service accounts get), then, when configured, an STS AssumeRole on top.
//! Temporary credentials are refreshed five minutes before they expire. Not
//! supported (an error says so): EC2 instance metadata, the ECS container endpoint,
//! SSO profiles, `credential_process`.
pub(crate) mod credentials;
mod sigv4;

use crate::error::truncate;
use crate::{
    http, Health, KeyBackend, KeyError, KeyId, Result, RetryPolicy, SecretBytes, WrapContext,
    WrappedKey,
};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) const KIND: &str = "aws-kms";

/// Configuration of the AWS KMS backend (`aws_kms:` block).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsKmsConfig {
    /// Key ARN, key id, `alias/NAME` or alias ARN.
    pub key: String,
    /// Region; default from the key ARN, `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile.
    #[serde(default)]
    pub region: Option<String>,
    /// KMS endpoint URL; default `AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL`, then AWS's.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Shared-config profile (default: the environment, then `AWS_PROFILE`/`default`).
    #[serde(default)]
    pub profile: Option<String>,
    /// A role to assume (STS AssumeRole) with the base credentials.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// Session name for the assumed role.
    #[serde(default)]
    pub role_session_name: Option<String>,
    /// External id for the assumed role.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Pairs added to every call's encryption context.
    #[serde(default)]
    pub encryption_context: BTreeMap<String, String>,
    /// PEM bundle of extra CA certificates (default `AWS_CA_BUNDLE`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Timeouts and retries; `None` leaves them to the caller ([`RetryPolicy::default`]
    /// when the backend is built as configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
}

/// AWS KMS as a [`KeyBackend`].
pub struct AwsKmsBackend {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    host: String,
    sts_endpoint: String,
    region: String,
    key: String,
    is_alias: bool,
    fixed_context: BTreeMap<String, String>,
    source: credentials::Source,
    creds: tokio::sync::Mutex<Option<credentials::Timed>>,
    arn: RwLock<String>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for AwsKmsBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKmsBackend")
            .field("endpoint", &self.endpoint.as_str())
            .field("region", &self.region)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptOut {
    ciphertext_blob: String,
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptOut {
    plaintext: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyMetadata {
    arn: String,
    #[serde(default)]
    key_state: Option<String>,
    #[serde(default)]
    key_usage: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeOut {
    key_metadata: KeyMetadata,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

impl AwsKmsBackend {
    /// Builds the backend without contacting AWS (the key id is the configured key
    /// until the first wrap or health check resolves the ARN).
    pub fn new(cfg: &AwsKmsConfig) -> Result<Self> {
        let key = cfg.key.trim().to_string();
        if key.is_empty() {
            return Err(KeyError::config(
                KIND,
                "aws_kms.key",
                "missing: a key ARN, key id or alias/NAME",
            ));
        }
        let is_alias = key.starts_with("alias/") || key.contains(":alias/");
        if is_alias {
            tracing::warn!(key = %key, "AWS KMS key given as an alias: if the alias is repointed, new data is wrapped by another key; prefer the key ARN");
        }
        let arn_region = key
            .strip_prefix("arn:")
            .and_then(|r| r.split(':').nth(2))
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        let profiles = credentials::load_profiles();
        let profile_name = cfg
            .profile
            .clone()
            .or_else(|| env("AWS_PROFILE"))
            .unwrap_or_else(|| "default".into());
        let region = cfg
            .region
            .clone()
            .or(arn_region)
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .or_else(|| {
                profiles
                    .get(&profile_name)
                    .and_then(|p| p.get("region").cloned())
            })
            .ok_or_else(|| {
                KeyError::config(
                    KIND,
                    "aws_kms.region",
                    "missing (or set AWS_REGION, or use a key ARN)",
                )
            })?;
        let endpoint = cfg
            .endpoint
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_KMS"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://kms.{region}.amazonaws.com"));
        let endpoint = reqwest::Url::parse(&endpoint).map_err(|e| {
            KeyError::config(
                KIND,
                "aws_kms.endpoint",
                format!("`{endpoint}` is not a URL: {e}"),
            )
        })?;
        let host = match (endpoint.host_str(), endpoint.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => {
                return Err(KeyError::config(
                    KIND,
                    "aws_kms.endpoint",
                    "the URL has no host",
                ))
            }
        };
        let sts_endpoint = env("AWS_ENDPOINT_URL_STS")
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
        let source = credentials::resolve(
            cfg.profile.as_deref(),
            cfg.role_arn.as_deref(),
            cfg.role_session_name.as_deref(),
            cfg.external_id.as_deref(),
        )?;
        let ca = cfg
            .ca_file
            .clone()
            .or_else(|| std::env::var_os("AWS_CA_BUNDLE").map(PathBuf::from));
        let http = http::client(KIND, "aws_kms.ca_file", ca.as_deref())?;
        Ok(Self {
            http,
            endpoint,
            host,
            sts_endpoint,
            region,
            arn: RwLock::new(key.clone()),
            key,
            is_alias,
            fixed_context: cfg.encryption_context.clone(),
            source,
            creds: tokio::sync::Mutex::new(None),
            retry: cfg.retry.clone().unwrap_or_default(),
        })
    }

    /// Builds the backend and resolves the key (DescribeKey).
    pub async fn connect(cfg: &AwsKmsConfig) -> Result<Self> {
        let b = Self::new(cfg)?;
        b.describe().await?;
        Ok(b)
    }

    async fn credentials(&self) -> Result<sigv4::Credentials> {
        let mut guard = self.creds.lock().await;
        if let Some(t) = guard.as_ref().filter(|t| t.fresh()) {
            return Ok(t.creds.clone());
        }
        let sts = credentials::Sts {
            http: &self.http,
            endpoint: &self.sts_endpoint,
            region: &self.region,
        };
        let t = sts.credentials(&self.source).await?;
        let c = t.creds.clone();
        *guard = Some(t);
        Ok(c)
    }

    /// One signed KMS call.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        target: &str,
        body: &SecretBytes,
    ) -> Result<T> {
        let creds = self.credentials().await?;
        let ctype = "application/x-amz-json-1.1";
        let amz_target = format!("TrentService.{target}");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let signed = sigv4::sign(
            &creds,
            &self.region,
            "kms",
            "POST",
            self.endpoint.path(),
            "",
            &[
                ("content-type", ctype),
                ("host", &self.host),
                ("x-amz-target", &amz_target),
            ],
            body.expose(),
            now,
        );
        let mut req = self
            .http
            .post(self.endpoint.clone())
            .header("content-type", ctype)
            .header("x-amz-target", &amz_target);
        for (k, v) in signed {
            req = req.header(k, v);
        }
        let resp = req
            .body(body.expose().to_vec())
            .send()
            .await
            .map_err(|e| http::transport_error(KIND, self.endpoint.as_str(), e))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| http::transport_error(KIND, self.endpoint.as_str(), e))?;
        if status == 200 {
            return serde_json::from_slice(&bytes).map_err(|e| KeyError::Service {
                backend: KIND,
                status: Some(status),
                message: format!("unexpected {target} answer: {e}"),
                transient: false,
            });
        }
        Err(self.error(status, &bytes))
    }

    fn error(&self, status: u16, body: &[u8]) -> KeyError {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let ty = v
            .get("__type")
            .and_then(|t| t.as_str())
            .unwrap_or("")
            .rsplit('#')
            .next()
            .unwrap_or("")
            .to_string();
        let msg = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        let message = truncate(&format!("{ty}: {msg}"));
        match ty.as_str() {
            "InvalidCiphertextException" | "IncorrectKeyException" => KeyError::Unwrap {
                backend: KIND,
                message: format!(
                    "{message} (another key, another encryption context, or altered data)"
                ),
            },
            "NotFoundException"
            | "DisabledException"
            | "KMSInvalidStateException"
            | "InvalidKeyUsageException" => KeyError::Key {
                backend: KIND,
                key: self.key.clone(),
                message,
            },
            "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "IncompleteSignature"
            | "ExpiredTokenException"
            | "MissingAuthenticationToken" => KeyError::Auth {
                backend: KIND,
                message,
            },
            "ThrottlingException"
            | "KMSInternalException"
            | "DependencyTimeoutException"
            | "LimitExceededException" => KeyError::Service {
                backend: KIND,
                status: Some(status),
                message,
                transient: true,
            },
            _ => KeyError::Service {
                backend: KIND,
                status: Some(status),
                message,
                transient: status >= 500,
            },
        }
    }

    /// Drops cached temporary credentials after an auth failure so that the next
    /// call fetches new ones.
    async fn on_error(&self, e: &KeyError) {
        if matches!(e, KeyError::Auth { .. })
            && !matches!(self.source, credentials::Source::Static(_))
        {
            *self.creds.lock().await = None;
        }
    }

    async fn describe(&self) -> Result<KeyMetadata> {
        let body = SecretBytes::new(
            serde_json::to_vec(&serde_json::json!({ "KeyId": self.key })).unwrap_or_default(),
        );
        let out: DescribeOut = self
            .retry
            .run(KIND, "describe key", || self.call("DescribeKey", &body))
            .await?;
        let md = out.key_metadata;
        if let Some(state) = md.key_state.as_deref().filter(|s| *s != "Enabled") {
            return Err(KeyError::Key {
                backend: KIND,
                key: self.key.clone(),
                message: format!("the key is {state}"),
            });
        }
        if let Some(usage) = md.key_usage.as_deref().filter(|u| *u != "ENCRYPT_DECRYPT") {
            return Err(KeyError::Key {
                backend: KIND,
                key: self.key.clone(),
                message: format!("key usage is {usage}, not ENCRYPT_DECRYPT"),
            });
        }
        self.set_arn(&md.arn);
        Ok(md)
    }

    fn set_arn(&self, arn: &str) {
        if let Ok(mut a) = self.arn.write() {
            if *a != arn {
                *a = arn.to_string();
            }
        }
    }

    fn context(&self, ctx: &WrapContext) -> BTreeMap<String, String> {
        let mut all = self.fixed_context.clone();
        all.extend(ctx.pairs().iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }

    /// Calls `target` (Encrypt or Decrypt) with `body` plus the encryption context,
    /// under the retry policy; the serialized body holds key material and is wiped.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        op: &'static str,
        target: &str,
        mut body: serde_json::Map<String, serde_json::Value>,
        ctx: &WrapContext,
    ) -> Result<T> {
        let context = self.context(ctx);
        if !context.is_empty() {
            body.insert(
                "EncryptionContext".into(),
                serde_json::to_value(&context).unwrap_or_default(),
            );
        }
        let body = SecretBytes::new(serde_json::to_vec(&body).unwrap_or_default());
        self.retry
            .run(KIND, op, || async {
                let r = self.call(target, &body).await;
                if let Err(e) = &r {
                    self.on_error(e).await;
                }
                r
            })
            .await
    }
}

#[async_trait::async_trait]
impl KeyBackend for AwsKmsBackend {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn key_id(&self) -> KeyId {
        KeyId::new(
            self.arn
                .read()
                .map(|a| a.clone())
                .unwrap_or_else(|_| self.key.clone()),
        )
    }

    async fn wrap(&self, dek: &SecretBytes, ctx: &WrapContext) -> Result<WrappedKey> {
        let mut body = serde_json::Map::new();
        body.insert("KeyId".into(), self.key.clone().into());
        body.insert("Plaintext".into(), B64.encode(dek.expose()).into());
        let out: EncryptOut = self.send("wrap", "Encrypt", body, ctx).await?;
        self.set_arn(&out.key_id);
        let ciphertext = B64
            .decode(out.ciphertext_blob)
            .map_err(|_| KeyError::Service {
                backend: KIND,
                status: None,
                message: "CiphertextBlob is not base64".into(),
                transient: false,
            })?;
        Ok(WrappedKey {
            key_id: KeyId::new(out.key_id),
            ciphertext,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<SecretBytes> {
        if wrapped.ciphertext.is_empty() || wrapped.ciphertext.len() > 6144 {
            return Err(KeyError::Unwrap {
                backend: KIND,
                message: format!(
                    "a KMS ciphertext has 1..=6144 bytes, this one {}",
                    wrapped.ciphertext.len()
                ),
            });
        }
        let mut body = serde_json::Map::new();
        body.insert(
            "CiphertextBlob".into(),
            B64.encode(&wrapped.ciphertext).into(),
        );
        if !self.is_alias {
            body.insert("KeyId".into(), self.key.clone().into());
        }
        let out: DecryptOut = self.send("unwrap", "Decrypt", body, ctx).await?;
        let plain = SecretBytes::new(out.plaintext.into_bytes());
        B64.decode(plain.expose())
            .map(SecretBytes::new)
            .map_err(|_| KeyError::Service {
                backend: KIND,
                status: None,
                message: "Plaintext is not base64".into(),
                transient: false,
            })
    }

    async fn health(&self) -> Result<Health> {
        let md = self.describe().await?;
        crate::probe_round_trip(self).await?;
        Ok(Health {
            key_id: self.key_id(),
            detail: format!("{} ({})", md.arn, md.key_state.unwrap_or_default()),
        })
    }
}
