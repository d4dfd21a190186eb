//! Master keys behind a network service — AWS KMS (`kms`) and Vault / OpenBao
//! Transit (`hc_vault`) — reached through `ksec-keys`, with the credentials
//! sops users already have. Only with the `network-keys` feature.
//!
//! Why here, and why a feature: the rest of this crate is synchronous and does
//! no I/O (a caller can drive [`Unlocker`](crate::Unlocker) itself). This
//! module is the one thin place that owns a tokio runtime and HTTP clients; a
//! program that only reads age/PGP files (the fuzz targets, a WASM build)
//! leaves the feature off and links none of it. It plugs into the same
//! [`Keyring`] as the local keys, as a [`KeyService`] that says it is remote,
//! so every verb (decrypt, edit, set, rotate, updatekeys) gets KMS and Vault
//! keys without a second code path.
//!
//! How keys are tried: local age/PGP keys first (the decryption order), then
//! every KMS and Vault key of the groups still closed, concurrently on one
//! runtime; the first key of a group that answers opens it and the others are
//! abandoned once enough groups are open, so a dead or hung Vault never holds
//! up a KMS key that works. Each key has a time budget
//! ([`NetworkKeys::key_timeout`]); errors name each key and why it failed.
//!
//! Credentials, as sops reads them:
//! - Vault: each key at its own `vault_address` from the file; the token from
//!   `VAULT_TOKEN`, else `~/.vault-token`; `VAULT_NAMESPACE`, `VAULT_CACERT`.
//!   When `SOPS_HC_VAULT_ALLOWLIST` is set (a comma list of URL prefixes, or
//!   `all`, or `none`), a key whose address it does not allow is refused before
//!   any request, so a file from an untrusted branch cannot collect tokens.
//! - AWS: the region from the key's ARN; credentials from the environment,
//!   the shared config and credentials files and the key's `aws_profile` (or
//!   `AWS_PROFILE`), web identity; the key's `role` assumed through STS with
//!   the session name `sops@HOSTNAME`; `AWS_ENDPOINT_URL` (and the per-service
//!   variants) for other endpoints. The encryption context is the key's.
mod allowlist;

pub use allowlist::VaultAllowlist;

use crate::keys::cloud::{KmsKey, VaultKey};
use crate::keys::{KeyService, Keyring, Recipient};
use crate::master_key::{KeyIdentity, MasterKey};
use crate::{Error, Format, Zeroizing};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ksec_crypto::SecretBytes;
use ksec_keys::awskms::{AwsKmsBackend, AwsKmsConfig};
use ksec_keys::vault::{VaultAuth, VaultBackend, VaultConfig};
use ksec_keys::{KeyBackend, KeyId, WrapContext, WrappedKey};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The local keys of the environment (age and PGP, as
/// [`Keyring::from_env`] finds them) plus AWS KMS and Vault Transit keys as
/// [`NetworkKeys::from_env`] reaches them, in the decryption order of
/// `SOPS_DECRYPTION_ORDER` (default: age, then PGP, then the network keys).
///
/// This is what `ksec sops` decrypts with; a program that reads SOPS files the
/// way sops would (a Helm plugin, a controller) calls this.
pub fn keyring_from_env() -> Keyring {
    let mut keys = Keyring::from_env();
    keys.push(Box::new(NetworkKeys::from_env()));
    if let Ok(order) = std::env::var("SOPS_DECRYPTION_ORDER") {
        if !order.trim().is_empty() {
            keys.set_decryption_order(ksec_text::split_list(&order));
        }
    }
    keys
}

/// Decrypts a SOPS file with the environment's keys — local age and PGP keys
/// first, then AWS KMS and Vault Transit keys ([`keyring_from_env`]) — checks
/// its MAC, and returns the plaintext in the same format.
///
/// A stable entry point for other programs: [`Error::NoKey`] lists every key
/// tried and why it failed; [`Error::MacMismatch`] when the file was altered.
pub fn decrypt_from_env(input: &[u8], format: Format) -> Result<Zeroizing<Vec<u8>>, Error> {
    crate::decrypt(input, format, &keyring_from_env())
}

/// AWS KMS and Vault Transit as one remote [`KeyService`].
pub struct NetworkKeys {
    allowlist: Result<VaultAllowlist, String>,
    vault_token: VaultToken,
    vault_namespace: Option<String>,
    key_timeout: Duration,
    runtime: OnceLock<Result<tokio::runtime::Runtime, String>>,
    vault: Mutex<HashMap<VaultKeyId, Arc<VaultBackend>>>,
    kms: Mutex<HashMap<KmsBackendId, Arc<AwsKmsBackend>>>,
}

impl std::fmt::Debug for NetworkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkKeys")
            .field("allowlist", &self.allowlist)
            .field("key_timeout", &self.key_timeout)
            .finish_non_exhaustive()
    }
}

/// Where the Vault token comes from: `VAULT_TOKEN` when it is set and not empty,
/// else the file `$HOME/.vault-token` (sops's `hcvault` key source, like the
/// `vault` CLI's default token helper).
#[derive(Clone, Debug, PartialEq, Eq)]
enum VaultToken {
    /// `VAULT_TOKEN` is set.
    Env,
    /// `~/.vault-token` (read at each login, so a new `vault login` is seen).
    File(PathBuf),
    /// Neither: every Vault key fails, naming where the token was looked for.
    Missing(Option<PathBuf>),
}

impl VaultToken {
    /// The token source for these values of `VAULT_TOKEN` and `HOME`.
    fn find(env_token: Option<&str>, home: Option<&std::path::Path>) -> Self {
        if env_token.is_some_and(|t| !t.trim().is_empty()) {
            return VaultToken::Env;
        }
        let file = home.map(|h| h.join(".vault-token"));
        match file {
            Some(f) if f.exists() => VaultToken::File(f),
            f => VaultToken::Missing(f),
        }
    }

    /// Refuses a source that cannot give a token, saying where it looked and
    /// what to do; the token file is read to check it holds something (and
    /// dropped: the backend reads it again at each login).
    fn check(&self) -> Result<(), Error> {
        let no_env = "VAULT_TOKEN is not set";
        let todo =
            "log in with `vault login` or `bao login` (which write that file), or set VAULT_TOKEN";
        match self {
            VaultToken::Env => Ok(()),
            VaultToken::Missing(None) => Err(Error::key_service(format!(
                "no Vault token: {no_env} and HOME is not set, so there is no ~/.vault-token to read; set VAULT_TOKEN"
            ))),
            VaultToken::Missing(Some(f)) => Err(Error::key_service(format!(
                "no Vault token: {no_env} and {} does not exist; {todo}",
                f.display()
            ))),
            VaultToken::File(f) => match std::fs::read(f).map(Zeroizing::new) {
                Ok(t) if t.trim_ascii().is_empty() => Err(Error::key_service(format!(
                    "no Vault token: {no_env} and {} is empty; {todo}",
                    f.display()
                ))),
                Ok(_) => Ok(()),
                Err(e) => Err(Error::key_service(format!(
                    "no Vault token: {no_env} and {} cannot be read: {e}",
                    f.display()
                ))),
            },
        }
    }
}

type VaultKeyId = (String, String, String);
type KmsBackendId = (String, Option<String>, Option<String>);

/// How long one key may take by default, all retries included.
const DEFAULT_KEY_TIMEOUT: Duration = Duration::from_secs(45);

/// One key's unwrap in flight: a future that owns what it needs.
type UnwrapTask =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<SecretBytes, Error>> + Send>>;

impl NetworkKeys {
    /// The service as the environment sets it up (see the module docs). It
    /// reads the environment now and contacts nothing until a key is used.
    pub fn from_env() -> Self {
        let allowlist = match std::env::var(allowlist::ENV) {
            Ok(v) if !v.is_empty() => VaultAllowlist::parse(&v).map_err(|e| e.to_string()),
            _ => Ok(VaultAllowlist::all()),
        };
        let vault_token = VaultToken::find(
            std::env::var("VAULT_TOKEN").ok().as_deref(),
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from)
                .as_deref(),
        );
        Self {
            allowlist,
            vault_token,
            vault_namespace: std::env::var("VAULT_NAMESPACE")
                .ok()
                .filter(|n| !n.is_empty()),
            key_timeout: DEFAULT_KEY_TIMEOUT,
            runtime: OnceLock::new(),
            vault: Mutex::new(HashMap::new()),
            kms: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the Vault allowlist read from `SOPS_HC_VAULT_ALLOWLIST`.
    pub fn vault_allowlist(mut self, allowlist: VaultAllowlist) -> Self {
        self.allowlist = Ok(allowlist);
        self
    }

    /// How long one key may take, all retries included (default 45 s). Keys
    /// are tried concurrently, so this bounds the wait only when no key works.
    pub fn key_timeout(mut self, timeout: Duration) -> Self {
        self.key_timeout = timeout;
        self
    }

    fn runtime(&self) -> Result<&tokio::runtime::Runtime, Error> {
        self.runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("ksec-sops-network")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the network runtime: {e}"))
            })
            .as_ref()
            .map_err(|e| Error::KeyService { reason: e.clone() })
    }

    /// Runs `f` to completion on the service's runtime, also when called from
    /// inside another tokio runtime (then from a helper thread, as tokio
    /// forbids blocking a runtime's own thread).
    fn block_on<F>(&self, f: F) -> Result<F::Output, Error>
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        let rt = self.runtime()?;
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| rt.block_on(f))
                    .join()
                    .map_err(|_| Error::Internal("the network key thread panicked"))
            })
        } else {
            Ok(rt.block_on(f))
        }
    }

    fn vault_backend(&self, key: &VaultKey) -> Result<Arc<VaultBackend>, Error> {
        match &self.allowlist {
            Err(reason) => return Err(Error::key_service(reason.clone())),
            Ok(list) if !list.allows(&key.address) => {
                return Err(Error::key_service(format!(
                    "{} does not allow {} (no token was sent)",
                    allowlist::ENV,
                    key.address
                )))
            }
            Ok(_) => {}
        }
        let id = (
            key.address.clone(),
            key.engine_path.clone(),
            key.key_name.clone(),
        );
        let mut cache = self
            .vault
            .lock()
            .map_err(|_| Error::Internal("vault cache poisoned"))?;
        if let Some(b) = cache.get(&id) {
            return Ok(b.clone());
        }
        self.vault_token.check()?;
        let mut cfg = VaultConfig::new(&key.address, &key.key_name);
        cfg.mount = key.engine_path.clone();
        cfg.namespace = self.vault_namespace.clone();
        cfg.auth = match &self.vault_token {
            VaultToken::Env | VaultToken::Missing(_) => VaultAuth::Token {
                token_file: None,
                token_env: Some("VAULT_TOKEN".into()),
            },
            VaultToken::File(f) => VaultAuth::Token {
                token_file: Some(f.clone()),
                token_env: None,
            },
        };
        let backend = Arc::new(VaultBackend::new(&cfg).map_err(key_error)?);
        cache.insert(id, backend.clone());
        Ok(backend)
    }

    fn kms_backend(&self, key: &KmsKey) -> Result<Arc<AwsKmsBackend>, Error> {
        key.region().map_err(Error::key_service)?;
        let id = (key.arn.clone(), key.role.clone(), key.aws_profile.clone());
        let mut cache = self
            .kms
            .lock()
            .map_err(|_| Error::Internal("kms cache poisoned"))?;
        if let Some(b) = cache.get(&id) {
            return Ok(b.clone());
        }
        let cfg = AwsKmsConfig {
            key: key.arn.clone(),
            profile: key.aws_profile.clone(),
            role_arn: key.role.clone(),
            role_session_name: key.role.as_ref().map(|_| sts_session_name()),
            ..AwsKmsConfig::default()
        };
        let backend = Arc::new(AwsKmsBackend::new(&cfg).map_err(key_error)?);
        cache.insert(id, backend.clone());
        Ok(backend)
    }

    /// One key's unwrap, as a future that owns what it needs.
    fn unwrap_task(&self, key: &MasterKey) -> Result<UnwrapTask, Error> {
        let enc = key
            .enc()
            .filter(|e| !e.is_empty())
            .ok_or_else(|| Error::key_service("the entry has no enc"))?
            .to_string();
        let budget = self.key_timeout;
        match key.identity() {
            KeyIdentity::HcVault {
                address,
                engine_path,
                key_name,
            } => {
                let backend = self.vault_backend(&VaultKey {
                    address,
                    engine_path,
                    key_name,
                })?;
                Ok(Box::pin(async move {
                    let wrapped = WrappedKey {
                        key_id: KeyId::new(""),
                        ciphertext: enc.into_bytes(),
                    };
                    timed(budget, backend.unwrap(&wrapped, &WrapContext::new())).await
                }))
            }
            KeyIdentity::AwsKms {
                arn,
                role,
                context,
                aws_profile,
            } => {
                let blob = B64.decode(enc.trim()).map_err(|e| {
                    Error::key_service(format!("error base64-decoding encrypted data key: {e}"))
                })?;
                let kms = KmsKey::new(arn, role, context, aws_profile);
                let backend = self.kms_backend(&kms)?;
                let ctx: WrapContext = kms.context.iter().cloned().collect();
                Ok(Box::pin(async move {
                    let wrapped = WrappedKey {
                        key_id: KeyId::new(kms.arn.clone()),
                        ciphertext: blob,
                    };
                    timed(budget, backend.unwrap(&wrapped, &ctx)).await
                }))
            }
            _ => Err(Error::key_service(crate::keys::no_service_reason(
                key.kind(),
            ))),
        }
    }
}

/// Runs a backend call under the per-key budget.
async fn timed(
    budget: Duration,
    f: impl std::future::Future<Output = ksec_keys::Result<SecretBytes>>,
) -> Result<SecretBytes, Error> {
    match tokio::time::timeout(budget, f).await {
        Ok(r) => r.map_err(key_error),
        Err(_) => Err(Error::key_service(format!(
            "no answer within {}s",
            budget.as_secs()
        ))),
    }
}

fn key_error(e: ksec_keys::KeyError) -> Error {
    Error::key_service(e.to_string())
}

/// `sops@HOSTNAME`, sanitised and cut as sops does (`kms.stsSessionName`).
fn sts_session_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    // sops's character class `[^a-zA-Z0-9=,.@-_]` reads `@-_` as a range.
    let clean: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "=,.".contains(*c) || ('@'..='_').contains(c))
        .collect();
    let mut name = format!("sops@{clean}");
    name.truncate(64);
    name
}

impl KeyService for NetworkKeys {
    fn kinds(&self) -> &[&'static str] {
        &["kms", "hc_vault"]
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn wrap(&self, to: &Recipient, secret: &SecretBytes) -> Result<MasterKey, Error> {
        let enc = if let Some(k) = to.vault_key_detail() {
            let backend = self.vault_backend(k)?;
            let w = self.block_on(async {
                tokio::time::timeout(self.key_timeout, backend.wrap(secret, &WrapContext::new()))
                    .await
            })?;
            let w = w
                .map_err(|_| Error::key_service("no answer in time"))?
                .map_err(key_error)?;
            String::from_utf8(w.ciphertext)
                .map_err(|_| Error::key_service("Transit returned a ciphertext that is not text"))?
        } else if let Some(k) = to.kms_key_detail() {
            let backend = self.kms_backend(k)?;
            let ctx: WrapContext = k.context.iter().cloned().collect();
            let w = self.block_on(async {
                tokio::time::timeout(self.key_timeout, backend.wrap(secret, &ctx)).await
            })?;
            let w = w
                .map_err(|_| Error::key_service("no answer in time"))?
                .map_err(key_error)?;
            B64.encode(w.ciphertext)
        } else {
            return Err(Error::UnsupportedKeyType {
                kind: to.kind.clone(),
                key: to.describe(),
            });
        };
        to.entry(&enc)
            .ok_or(Error::Internal("no entry layout for a network key"))
    }

    fn unwrap(&self, key: &MasterKey) -> Result<SecretBytes, Error> {
        let task = self.unwrap_task(key)?;
        self.block_on(task)?
    }

    fn unwrap_all(
        &self,
        keys: &[&MasterKey],
        report: &mut dyn FnMut(usize, Result<SecretBytes, Error>) -> bool,
    ) {
        // Keys that cannot even be tried (allowlist, a bad ARN, no
        // credentials) are reported at once; the others run together.
        let mut tasks = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            match self.unwrap_task(k) {
                Ok(t) => tasks.push((i, t)),
                Err(e) => {
                    if !report(i, Err(e)) {
                        return;
                    }
                }
            }
        }
        if tasks.is_empty() {
            return;
        }
        let rt = match self.runtime() {
            Ok(rt) => rt,
            Err(e) => {
                let reason = e.to_string();
                for (i, _) in tasks {
                    if !report(i, Err(Error::key_service(reason.clone()))) {
                        return;
                    }
                }
                return;
            }
        };
        // The keys run on the runtime, driven from a helper thread; results
        // come back to this thread (where `report` lives) as they finish. When
        // `report` has enough, dropping `stop` ends the helper, which drops the
        // task set and so aborts the keys still running.
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel();
            let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
            scope.spawn(move || {
                rt.block_on(async move {
                    let mut set = tokio::task::JoinSet::new();
                    for (i, t) in tasks {
                        set.spawn(async move { (i, t.await) });
                    }
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            joined = set.join_next() => match joined {
                                None => break,
                                Some(Ok(result)) => {
                                    if tx.send(result).is_err() {
                                        break;
                                    }
                                }
                                Some(Err(_)) => {}
                            },
                        }
                    }
                })
            });
            for (i, r) in rx.iter() {
                if !report(i, r) {
                    break;
                }
            }
            drop(stop);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::VaultToken;

    #[test]
    fn vault_token_from_env_then_home_file_as_sops() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join(".vault-token");
        // No variable, no file: missing, naming the file looked for.
        let t = VaultToken::find(None, Some(home.path()));
        assert_eq!(t, VaultToken::Missing(Some(file.clone())));
        let e = t.check().unwrap_err().to_string();
        assert!(
            e.contains("VAULT_TOKEN is not set") && e.contains(&file.display().to_string()),
            "{e}"
        );
        assert!(VaultToken::find(None, None)
            .check()
            .unwrap_err()
            .to_string()
            .contains("HOME is not set"));
        // An empty (or blank) file is named too, and holds nothing to send.
        std::fs::write(&file, " \n").unwrap();
        let t = VaultToken::find(Some(""), Some(home.path()));
        assert_eq!(t, VaultToken::File(file.clone()));
        let e = t.check().unwrap_err().to_string();
        assert!(e.contains("is empty") && e.contains(".vault-token"), "{e}");
        std::fs::write(&file, "s.token\n").unwrap();
        assert!(t.check().is_ok());
        // VAULT_TOKEN wins over the file; a blank one does not count.
        assert_eq!(
            VaultToken::find(Some("root"), Some(home.path())),
            VaultToken::Env
        );
        assert_eq!(
            VaultToken::find(Some("  "), Some(home.path())),
            VaultToken::File(file)
        );
    }
}
