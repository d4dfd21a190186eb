//! The sealing keys: read from Bitnami-format key Secrets, generated and renewed.
//!
//! Key Secrets are `kubernetes.io/tls` Secrets in the controller's namespace labelled
//! `sealedsecrets.bitnami.com/sealed-secrets-key: active` (plus the legacy Secret named
//! exactly the key prefix), as the Bitnami controller writes them, so an existing
//! cluster's keys just work. Keys are never deleted. A key Secret that cannot be read
//! (broken PEM, missing field) is reported and skipped; the others still work.
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Secret;
use ksec_crypto::rsa::RsaPrivateKey;
use ksec_crypto::x509::Certificate;
use ksec_seal::keys::{SealingKey, KEY_LABEL};
use kube::api::{Api, ListParams, PostParams};
use kube::ResourceExt;

use crate::config::{Config, KeyOrder};
use crate::error::{Error, Result};

/// One registered private key.
#[derive(Debug)]
pub struct RegisteredKey {
    /// Name of the key Secret.
    pub name: String,
    /// The key and its certificate.
    pub key: SealingKey,
    /// When it counts as created, per `--key-order-priority`.
    pub ordering_time: SystemTime,
    /// OpenSSH-style fingerprint of the public key (stable identity, no secret).
    pub fingerprint: String,
}

/// A key Secret that could not be used, and why (never with key material).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadKey {
    /// Name of the key Secret.
    pub name: String,
    /// What is wrong with it.
    pub problem: String,
}

/// The registered keys, shared by the reconciler and the HTTP endpoints.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: RwLock<Vec<Arc<RegisteredKey>>>,
    bad: RwLock<Vec<BadKey>>,
    /// Values opened per key fingerprint: objects without a hint try the busiest key first.
    opened: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registered keys, oldest first.
    pub fn all(&self) -> Vec<Arc<RegisteredKey>> {
        self.keys.read().map(|k| k.clone()).unwrap_or_default()
    }

    /// Number of registered keys.
    pub fn len(&self) -> usize {
        self.keys.read().map(|k| k.len()).unwrap_or(0)
    }

    /// True when no key is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Key Secrets that could not be read at the last load.
    pub fn bad_keys(&self) -> Vec<BadKey> {
        self.bad.read().map(|b| b.clone()).unwrap_or_default()
    }

    /// The key new values are sealed with (the newest by ordering time).
    pub fn newest(&self) -> Option<Arc<RegisteredKey>> {
        self.keys.read().ok().and_then(|k| k.last().cloned())
    }

    /// Keys in the order to try them: `first` (the one that opened this object last
    /// time) if still registered, then the keys that opened the most values so far (on a
    /// cold start, most objects of a cluster were sealed with one or two keys), then
    /// newest to oldest (new SealedSecrets are sealed with the newest key).
    pub fn preferred(&self, first: Option<&str>) -> Vec<Arc<RegisteredKey>> {
        let mut keys = self.all();
        keys.reverse();
        {
            let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
            // Stable sort: ties keep newest-first.
            keys.sort_by_key(|k| {
                std::cmp::Reverse(opened.get(&k.fingerprint).copied().unwrap_or(0))
            });
        }
        if let Some(fp) = first {
            if let Some(pos) = keys.iter().position(|k| k.fingerprint == fp) {
                let k = keys.remove(pos);
                keys.insert(0, k);
            }
        }
        keys
    }

    /// Records that the key with fingerprint `fp` opened `values` values.
    pub fn record_opened(&self, fp: &str, values: u64) {
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        *opened.entry(fp.to_string()).or_default() += values;
    }

    /// The newest certificate, PEM.
    pub fn cert_pem(&self) -> Option<String> {
        self.newest()
            .and_then(|k| k.key.cert.as_ref().map(Certificate::to_pem))
    }

    /// Replaces the registered keys (sorted by ordering time, oldest first).
    pub fn replace(&self, mut keys: Vec<RegisteredKey>, bad: Vec<BadKey>) {
        keys.sort_by(|a, b| {
            a.ordering_time
                .cmp(&b.ordering_time)
                .then_with(|| a.name.cmp(&b.name))
        });
        if let Ok(mut k) = self.keys.write() {
            *k = keys.into_iter().map(Arc::new).collect();
        }
        if let Ok(mut b) = self.bad.write() {
            *b = bad;
        }
    }

    /// A fingerprint set, to tell whether a reload changed anything.
    pub fn fingerprints(&self) -> Vec<String> {
        self.all().iter().map(|k| k.fingerprint.clone()).collect()
    }
}

/// Reads one key Secret in Bitnami's format.
pub fn read_key_secret(secret: &Secret, order: KeyOrder) -> Result<RegisteredKey, BadKey> {
    let name = secret.name_any();
    let bad = |problem: String| BadKey {
        name: name.clone(),
        problem,
    };
    let data = secret
        .data
        .as_ref()
        .ok_or_else(|| bad("the key Secret has no data".into()))?;
    let key_pem = data
        .get("tls.key")
        .ok_or_else(|| bad("the key Secret has no data.tls.key".into()))?;
    let key = RsaPrivateKey::from_pem(&key_pem.0).map_err(|e| bad(format!("data.tls.key: {e}")))?;
    let cert_pem = data
        .get("tls.crt")
        .ok_or_else(|| bad("the key Secret has no data.tls.crt".into()))?;
    let cert = Certificate::from_pem(&cert_pem.0).map_err(|e| bad(format!("data.tls.crt: {e}")))?;
    let matches = cert
        .rsa_public_key()
        .is_ok_and(|p| p.spki_der() == key.public_key().spki_der());
    if !matches {
        return Err(bad(
            "data.tls.crt does not hold the public key of data.tls.key".into(),
        ));
    }
    let created = secret
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| SystemTime::from(t.0))
        .unwrap_or(UNIX_EPOCH);
    let ordering_time = match order {
        KeyOrder::CertNotBefore => unix_time(cert.not_before),
        KeyOrder::SecretCreationTimestamp => created,
    };
    let fingerprint = key.public_key().ssh_fingerprint();
    Ok(RegisteredKey {
        name,
        key: SealingKey {
            key,
            cert: Some(cert),
            source: format!(
                "Secret {}/{}",
                secret.namespace().unwrap_or_default(),
                secret.name_any()
            ),
        },
        ordering_time,
        fingerprint,
    })
}

fn unix_time(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// Lists the key Secrets of `config.namespace` and registers every readable one.
/// Returns the keys that could not be read.
pub async fn load(client: &kube::Client, config: &Config, ring: &KeyRing) -> Result<Vec<BadKey>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &config.namespace);
    let mut items = api
        .list(&ListParams::default().labels(&format!("{KEY_LABEL}=active")))
        .await
        .map_err(|source| Error::Kube {
            action: "list key Secrets".into(),
            source,
        })?
        .items;
    // The legacy single key Secret, named exactly the prefix.
    if !items.iter().any(|s| s.name_any() == config.key_prefix) {
        match api.get_opt(&config.key_prefix).await {
            Ok(Some(s)) => items.push(s),
            Ok(None) => {}
            Err(source) => {
                return Err(Error::Kube {
                    action: "get the legacy key Secret".into(),
                    source,
                })
            }
        }
    }
    let mut keys = Vec::new();
    let mut bad = Vec::new();
    for s in &items {
        match read_key_secret(s, config.key_order) {
            Ok(k) => keys.push(k),
            Err(b) => {
                tracing::error!(secret = %b.name, problem = %b.problem, "cannot use key Secret; skipping it");
                bad.push(b);
            }
        }
    }
    ring.replace(keys, bad.clone());
    Ok(bad)
}

/// Generates a key like Bitnami's (`--key-size`, `--my-cn`, `--key-ttl`) and stores it
/// as a new key Secret (`generateName: <prefix>`, with `--privatekey-labels` and
/// `--privatekey-annotations`). Key generation runs on a blocking thread.
pub async fn generate_and_store(client: &kube::Client, config: &Config) -> Result<String> {
    let (bits, cn, ttl) = (
        config.key_size,
        config.common_name().to_string(),
        config.key_ttl,
    );
    let key = tokio::task::spawn_blocking(move || {
        SealingKey::generate(bits, &cn, SystemTime::now(), ttl)
    })
    .await
    .map_err(Error::KeyGenerationStopped)?
    .map_err(|source| Error::Keys { source })?;
    let name = ksec_seal::keys::new_key_name(&config.key_prefix);
    let mut value = key
        .to_secret_value(&name, &config.namespace)
        .map_err(|source| Error::Keys { source })?;
    let mut labels: BTreeMap<String, String> = config.privatekey_labels.clone();
    labels.insert(KEY_LABEL.into(), "active".into());
    value["metadata"]["labels"] = serde_json::to_value(&labels).unwrap_or_default();
    if !config.privatekey_annotations.is_empty() {
        value["metadata"]["annotations"] =
            serde_json::to_value(&config.privatekey_annotations).unwrap_or_default();
    }
    if let Some(m) = value["metadata"].as_object_mut() {
        m.remove("creationTimestamp");
    }
    let secret: Secret = serde_json::from_value(value).map_err(|_| Error::KeySecretShape)?;
    let api: Api<Secret> = Api::namespaced(client.clone(), &config.namespace);
    let created = api
        .create(&PostParams::default(), &secret)
        .await
        .map_err(|source| Error::Kube {
            action: "create a key Secret".into(),
            source,
        })?;
    tracing::info!(secret = %created.name_any(), "generated a new sealing key");
    Ok(created.name_any())
}

/// True when the newest key is missing, older than `--key-cutoff-time`, or older than
/// `--key-renew-period` (when renewal is on) at `now`.
pub fn needs_new_key(ring: &KeyRing, config: &Config, now: SystemTime) -> bool {
    let Some(newest) = ring.newest() else {
        return true;
    };
    if config
        .key_cutoff_time
        .is_some_and(|cut| newest.ordering_time < cut)
    {
        return true;
    }
    !config.key_renew_period.is_zero()
        && now
            .duration_since(newest.ordering_time)
            .is_ok_and(|age| age >= config.key_renew_period)
}

/// How long until the newest key is due for renewal (None: renewal is off).
pub fn until_renewal(ring: &KeyRing, config: &Config, now: SystemTime) -> Option<Duration> {
    if config.key_renew_period.is_zero() {
        return None;
    }
    let age = ring
        .newest()
        .and_then(|k| now.duration_since(k.ordering_time).ok())
        .unwrap_or(Duration::ZERO);
    Some(config.key_renew_period.saturating_sub(age))
}
