//! The backend itself: sessions on the token, AES-256-GCM inside it.
use super::Pkcs11Config;
use crate::local::hex;
use crate::{
    Health, KeyBackend, KeyError, KeyId, Result, RetryPolicy, SecretBytes, WrapContext, WrappedKey,
};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::sync::{Arc, Mutex};

const KIND: &str = "pkcs11";
const VERSION: u8 = 1;
const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;

struct Inner {
    ctx: Pkcs11,
    slot: Slot,
    token_label: String,
    key_label: String,
    key: ObjectHandle,
    kcv: Vec<u8>,
    key_id: KeyId,
    idle: Mutex<Vec<Session>>,
}

/// An AES key in a PKCS#11 token as a [`KeyBackend`].
pub struct Pkcs11Backend {
    inner: Arc<Inner>,
    permits: Arc<tokio::sync::Semaphore>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Pkcs11Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Backend")
            .field("token", &self.inner.token_label)
            .field("key", &self.inner.key_label)
            .field("key_id", &self.inner.key_id)
            .finish_non_exhaustive()
    }
}

fn ck(op: &str, e: CkError) -> KeyError {
    match &e {
        CkError::Pkcs11(
            RvError::PinIncorrect
            | RvError::PinInvalid
            | RvError::PinLenRange
            | RvError::PinLocked
            | RvError::PinExpired,
            _,
        ) => KeyError::Auth {
            backend: KIND,
            message: format!("{op}: the token refused the PIN ({e})"),
        },
        CkError::Pkcs11(RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange, _) => {
            KeyError::Unwrap {
                backend: KIND,
                message: format!(
                    "{op}: authentication failed: another context, or altered data ({e})"
                ),
            }
        }
        CkError::Pkcs11(
            RvError::DeviceError
            | RvError::DeviceRemoved
            | RvError::DeviceMemory
            | RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::TokenNotPresent,
            _,
        ) => KeyError::Unavailable {
            backend: KIND,
            endpoint: "token".into(),
            message: format!("{op}: {e}"),
        },
        _ => KeyError::Service {
            backend: KIND,
            status: None,
            message: format!("{op}: {e}"),
            transient: false,
        },
    }
}

fn read_pin(cfg: &Pkcs11Config) -> Result<AuthPin> {
    let raw = if let Some(f) = &cfg.pin_file {
        let b = std::fs::read(f).map_err(|e| {
            KeyError::config(
                KIND,
                "pkcs11.pin_file",
                format!("cannot read {}: {e}", f.display()),
            )
        })?;
        SecretBytes::new(b)
    } else {
        let var = cfg
            .pin_env
            .clone()
            .unwrap_or_else(|| "KSEC_PKCS11_PIN".into());
        let v = std::env::var(&var).map_err(|_| {
            KeyError::config(
                KIND,
                "pkcs11.pin_env",
                format!("no PIN: set {var} or pin_file"),
            )
        })?;
        SecretBytes::new(v.into_bytes())
    };
    let text = std::str::from_utf8(raw.expose().trim_ascii())
        .map_err(|_| KeyError::config(KIND, "pkcs11.pin_file", "the PIN is not UTF-8 text"))?;
    Ok(AuthPin::from(text.to_string()))
}

impl Inner {
    fn session(&self) -> Result<Session> {
        if let Some(s) = self.idle.lock().map_err(|_| poisoned())?.pop() {
            return Ok(s);
        }
        self.ctx
            .open_ro_session(self.slot)
            .map_err(|e| ck("open session", e))
    }

    fn give_back(&self, s: Session) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(s);
        }
    }

    /// The AAD binds the key's check value (not its label, which a rotation changes).
    fn aad(kcv: &[u8], ctx: &WrapContext) -> Vec<u8> {
        let mut aad = b"ksec/pkcs11/v1\0".to_vec();
        aad.extend_from_slice(kcv);
        aad.push(0);
        aad.extend_from_slice(&ctx.aad());
        aad
    }

    fn id_for(&self, kcv: &[u8]) -> String {
        format!(
            "pkcs11:token={};object={};kcv={}",
            self.token_label,
            self.key_label,
            hex(kcv)
        )
    }

    fn wrap(&self, s: &Session, dek: &SecretBytes, ctx: &WrapContext) -> Result<Vec<u8>> {
        let mut iv = ksec_crypto::rand::array::<IV_LEN>().map_err(|e| KeyError::Service {
            backend: KIND,
            status: None,
            message: e.to_string(),
            transient: false,
        })?;
        let aad = Self::aad(&self.kcv, ctx);
        let params =
            GcmParams::new(&mut iv, &aad, TAG_BITS.into()).map_err(|e| ck("GCM parameters", e))?;
        let ct = s
            .encrypt(&Mechanism::AesGcm(params), self.key, dek.expose())
            .map_err(|e| ck("encrypt", e))?;
        let mut out = Vec::with_capacity(2 + self.kcv.len() + IV_LEN + ct.len());
        out.push(VERSION);
        out.push(self.kcv.len() as u8);
        out.extend_from_slice(&self.kcv);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unwrap(&self, s: &Session, wrapped: &[u8], ctx: &WrapContext) -> Result<SecretBytes> {
        let bad = |m: String| KeyError::Unwrap {
            backend: KIND,
            message: m,
        };
        if wrapped.len() < 2 || wrapped[0] != VERSION {
            return Err(bad(
                "not a PKCS#11-backend ciphertext (unknown format version)".into(),
            ));
        }
        let kl = wrapped[1] as usize;
        if wrapped.len() < 2 + kl + IV_LEN + 16 {
            return Err(bad("the wrapped key is too short".into()));
        }
        let kcv = &wrapped[2..2 + kl];
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&wrapped[2 + kl..2 + kl + IV_LEN]);
        let ct = &wrapped[2 + kl + IV_LEN..];
        let key = if kcv == self.kcv.as_slice() {
            self.key
        } else {
            // An older key (rotation): look it up by its check value.
            let found = find_keys(s, &[Attribute::CheckValue(kcv.to_vec())])
                .or_else(|_| find_keys(s, &[Attribute::Id(kcv.to_vec())]))?;
            match found.as_slice() {
                [h] => *h,
                [] => {
                    return Err(bad(format!(
                        "it was wrapped by a key with check value {} that is not in token {}",
                        hex(kcv),
                        self.token_label
                    )))
                }
                _ => {
                    return Err(bad(format!(
                        "several keys in token {} have check value {}",
                        self.token_label,
                        hex(kcv)
                    )))
                }
            }
        };
        let aad = Self::aad(kcv, ctx);
        let params =
            GcmParams::new(&mut iv, &aad, TAG_BITS.into()).map_err(|e| ck("GCM parameters", e))?;
        s.decrypt(&Mechanism::AesGcm(params), key, ct)
            .map(SecretBytes::new)
            .map_err(|e| match e {
                // SoftHSM reports a failed GCM tag check as CKR_GENERAL_ERROR.
                CkError::Pkcs11(RvError::GeneralError | RvError::EncryptedDataInvalid, _) => bad(format!(
                    "the token could not authenticate it under key kcv={}: another context, or altered data",
                    hex(kcv)
                )),
                e => ck("decrypt", e),
            })
    }
}

fn poisoned() -> KeyError {
    KeyError::Service {
        backend: KIND,
        status: None,
        message: "session pool lock poisoned".into(),
        transient: false,
    }
}

fn find_keys(s: &Session, extra: &[Attribute]) -> Result<Vec<ObjectHandle>> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
    ];
    t.extend_from_slice(extra);
    s.find_objects(&t).map_err(|e| ck("find key", e))
}

/// One initialized context per module and process: `C_Initialize` may run only once,
/// and the login state is per process and token anyway.
static CONTEXTS: Mutex<Vec<(std::path::PathBuf, Pkcs11)>> = Mutex::new(Vec::new());

fn context(module: &std::path::Path) -> Result<Pkcs11> {
    let mut all = CONTEXTS.lock().map_err(|_| poisoned())?;
    if let Some((_, c)) = all.iter().find(|(p, _)| p == module) {
        return Ok(c.clone());
    }
    let ctx = Pkcs11::new(module).map_err(|e| {
        KeyError::config(
            KIND,
            "pkcs11.module",
            format!("cannot load {}: {e}", module.display()),
        )
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(ck("initialize", e)),
    }
    all.push((module.to_path_buf(), ctx.clone()));
    Ok(ctx)
}

fn open_blocking(cfg: &Pkcs11Config) -> Result<Inner> {
    let pin = read_pin(cfg)?;
    let ctx = context(&cfg.module)?;
    let slots = ctx
        .get_slots_with_initialized_token()
        .map_err(|e| ck("list slots", e))?;
    let mut labels = Vec::new();
    let mut slot = None;
    for s in slots {
        let label = ctx
            .get_token_info(s)
            .map_err(|e| ck("token info", e))?
            .label()
            .trim()
            .to_string();
        if label == cfg.token_label {
            slot = Some(s);
            break;
        }
        labels.push(label);
    }
    let slot = slot.ok_or_else(|| {
        KeyError::config(
            KIND,
            "pkcs11.token_label",
            format!(
                "no token labelled `{}` (tokens: {})",
                cfg.token_label,
                if labels.is_empty() {
                    "none".into()
                } else {
                    labels.join(", ")
                }
            ),
        )
    })?;
    let session = ctx
        .open_ro_session(slot)
        .map_err(|e| ck("open session", e))?;
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => return Err(ck("login", e)),
    }
    let keys = find_keys(
        &session,
        &[Attribute::Label(cfg.key_label.as_bytes().to_vec())],
    )?;
    let key = match keys.as_slice() {
        [k] => *k,
        [] => return Err(KeyError::Key { backend: KIND, key: cfg.key_label.clone(), message: format!("no AES key with this label in token {} (create one: pkcs11-tool --keygen --key-type aes:32 --label {})", cfg.token_label, cfg.key_label) }),
        _ => return Err(KeyError::Key { backend: KIND, key: cfg.key_label.clone(), message: "several AES keys carry this label; relabel the older ones".into() }),
    };
    let attrs = session
        .get_attributes(key, &[AttributeType::CheckValue, AttributeType::Id])
        .map_err(|e| ck("read key attributes", e))?;
    let mut kcv = Vec::new();
    for a in &attrs {
        match a {
            Attribute::CheckValue(v) if !v.is_empty() => kcv = v.clone(),
            Attribute::Id(v) if kcv.is_empty() && !v.is_empty() => kcv = v.clone(),
            _ => {}
        }
    }
    if kcv.is_empty() || kcv.len() > 64 {
        return Err(KeyError::Key {
            backend: KIND,
            key: cfg.key_label.clone(),
            message:
                "the key has neither CKA_CHECK_VALUE nor a CKA_ID (up to 64 bytes) to identify it"
                    .into(),
        });
    }
    let mut inner = Inner {
        ctx,
        slot,
        token_label: cfg.token_label.clone(),
        key_label: cfg.key_label.clone(),
        key,
        kcv: kcv.clone(),
        key_id: KeyId::new(String::new()),
        idle: Mutex::new(Vec::new()),
    };
    inner.key_id = KeyId::new(inner.id_for(&kcv));
    inner.give_back(session);
    for _ in 1..cfg.sessions.max(1) {
        let s = inner
            .ctx
            .open_ro_session(slot)
            .map_err(|e| ck("open session", e))?;
        inner.give_back(s);
    }
    Ok(inner)
}

impl Pkcs11Backend {
    /// Loads the module, finds the token, logs in, finds the key, opens the sessions.
    pub async fn open(cfg: Pkcs11Config) -> Result<Self> {
        let sessions = cfg.sessions.max(1);
        let retry = cfg.retry_policy();
        let inner = tokio::task::spawn_blocking(move || open_blocking(&cfg))
            .await
            .map_err(|e| KeyError::Service {
                backend: KIND,
                status: None,
                message: format!("open: {e}"),
                transient: false,
            })??;
        Ok(Self {
            inner: Arc::new(inner),
            permits: Arc::new(tokio::sync::Semaphore::new(sessions)),
            retry,
        })
    }

    async fn with_session<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl Fn(&Inner, &Session) -> Result<T> + Send + Sync + Clone + 'static,
    ) -> Result<T> {
        self.retry
            .run(KIND, op, || {
                let inner = self.inner.clone();
                let permits = self.permits.clone();
                let f = f.clone();
                async move {
                    let _permit = permits.acquire_owned().await.map_err(|_| poisoned())?;
                    tokio::task::spawn_blocking(move || {
                        let s = inner.session()?;
                        let r = f(&inner, &s);
                        // A session the token no longer knows is dropped, not pooled.
                        if !matches!(r, Err(KeyError::Unavailable { .. })) {
                            inner.give_back(s);
                        }
                        r
                    })
                    .await
                    .map_err(|e| KeyError::Service {
                        backend: KIND,
                        status: None,
                        message: format!("{op}: {e}"),
                        transient: false,
                    })?
                }
            })
            .await
    }
}

#[async_trait::async_trait]
impl KeyBackend for Pkcs11Backend {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn key_id(&self) -> KeyId {
        self.inner.key_id.clone()
    }
    async fn wrap(&self, dek: &SecretBytes, ctx: &WrapContext) -> Result<WrappedKey> {
        let (dek, ctx) = (dek.clone(), ctx.clone());
        let ct = self
            .with_session("wrap", move |i, s| i.wrap(s, &dek, &ctx))
            .await?;
        Ok(WrappedKey {
            key_id: self.key_id(),
            ciphertext: ct,
        })
    }
    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<SecretBytes> {
        let (ct, ctx) = (wrapped.ciphertext.clone(), ctx.clone());
        self.with_session("unwrap", move |i, s| i.unwrap(s, &ct, &ctx))
            .await
    }
    async fn health(&self) -> Result<Health> {
        crate::probe_round_trip(self).await?;
        Ok(Health {
            key_id: self.key_id(),
            detail: format!(
                "token {}, key {}",
                self.inner.token_label, self.inner.key_label
            ),
        })
    }
}
