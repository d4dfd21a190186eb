//! The local key file backend: AES-256-GCM under keys kept in a file.
//!
//! File format: one base64 (standard alphabet) 32-byte key per line; blank lines and
//! lines starting with `#` are ignored. The **first** key wraps; **all** keys unwrap.
//! Rotation is adding a new key on top ([`rotate_key_file`]); a key is retired by
//! deleting its line once nothing wrapped by it remains.
//!
//! Permissions: the file is **refused** when group or others can read or write it
//! (`chmod 600`, or `defaultMode: 0400` on a Kubernetes Secret volume), because a
//! key file anyone can read protects nothing. `allow_insecure_permissions: true`
//! turns the refusal into a logged warning, for file systems without Unix modes.
//!
//! Wrapped format (69 bytes for a 32-byte data key):
//! `0x01 ‖ fingerprint (8) ‖ nonce (12) ‖ AES-256-GCM(dek) ‖ tag (16)`, where the
//! fingerprint is the first 8 bytes of HMAC-SHA256(key, "ksec local key id") and the
//! AAD is `"ksec/local/v1\0" ‖ key id ‖ "\0" ‖ context`. The key id is `local:` and
//! the hex fingerprint, so the id changes exactly when the first key changes.
use crate::{Health, KeyBackend, KeyError, KeyId, Result, SecretBytes, WrapContext, WrappedKey};
use base64::Engine;
use ksec_crypto::aead;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const KIND: &str = "local";
const VERSION: u8 = 1;
const FP_LEN: usize = 8;
const HEADER: usize = 1 + FP_LEN + aead::NONCE_LEN;

/// Configuration of the local backend (`local:` block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Path of the key file.
    pub key_file: PathBuf,
    /// Only warn (instead of refusing) when the file is group/world accessible.
    #[serde(default)]
    pub allow_insecure_permissions: bool,
}

struct LocalKey {
    fingerprint: [u8; FP_LEN],
    id: KeyId,
    key: SecretBytes,
}

impl LocalKey {
    fn new(key: SecretBytes) -> Self {
        let mac = ksec_crypto::hmac::hmac_sha256(key.expose(), b"ksec local key id");
        let mut fingerprint = [0u8; FP_LEN];
        fingerprint.copy_from_slice(&mac[..FP_LEN]);
        let id = KeyId::new(format!("local:{}", hex(&fingerprint)));
        Self {
            fingerprint,
            id,
            key,
        }
    }

    fn aad(&self, ctx: &WrapContext) -> Vec<u8> {
        let mut aad = b"ksec/local/v1\0".to_vec();
        aad.extend_from_slice(self.id.as_str().as_bytes());
        aad.push(0);
        aad.extend_from_slice(&ctx.aad());
        aad
    }
}

/// AES-256-GCM key wrapping under the keys of a key file.
pub struct LocalBackend {
    path: PathBuf,
    keys: Vec<LocalKey>,
}

impl std::fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBackend")
            .field("path", &self.path)
            .field("keys", &self.keys.iter().map(|k| &k.id).collect::<Vec<_>>())
            .finish()
    }
}

impl LocalBackend {
    /// Opens the backend from its configuration (reads and checks the key file).
    pub fn from_config(cfg: &LocalConfig) -> Result<Self> {
        let text = read_key_file(&cfg.key_file, cfg.allow_insecure_permissions)?;
        Self::from_text(&cfg.key_file, &text)
    }

    /// Opens `path` with the default (strict) permission check.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_config(&LocalConfig {
            key_file: path.as_ref().to_path_buf(),
            allow_insecure_permissions: false,
        })
    }

    /// Parses key-file text (`path` names it in errors); no permission check.
    pub fn from_text(path: &Path, text: &str) -> Result<Self> {
        let err = |message: String| KeyError::KeyFile {
            path: path.to_path_buf(),
            message,
        };
        let mut keys: Vec<LocalKey> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(line)
                .map(SecretBytes::new)
                .map_err(|_| err(format!("line {}: not valid base64", n + 1)))?;
            if bytes.len() != aead::KEY_LEN {
                return Err(err(format!(
                    "line {}: a key must be {} bytes, this one has {} (generate one with `head -c 32 /dev/urandom | base64`)",
                    n + 1,
                    aead::KEY_LEN,
                    bytes.len()
                )));
            }
            let key = LocalKey::new(bytes);
            if keys.iter().any(|k| k.fingerprint == key.fingerprint) {
                return Err(err(format!("line {}: the same key appears twice", n + 1)));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(err(
                "no key in the file (one base64 32-byte key per line)".into()
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            keys,
        })
    }

    /// The key file this backend read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ids of all keys, the wrapping one first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    /// Wraps synchronously (the operation is local; the async trait method calls this).
    pub fn wrap_sync(&self, dek: &SecretBytes, ctx: &WrapContext) -> Result<WrappedKey> {
        let k = &self.keys[0];
        let nonce =
            ksec_crypto::rand::array::<{ aead::NONCE_LEN }>().map_err(|e| KeyError::Service {
                backend: KIND,
                status: None,
                message: e.to_string(),
                transient: false,
            })?;
        let ct = aead::seal(k.key.expose(), &nonce, &k.aad(ctx), dek.expose()).map_err(|e| {
            KeyError::Service {
                backend: KIND,
                status: None,
                message: e.to_string(),
                transient: false,
            }
        })?;
        let mut out = Vec::with_capacity(HEADER + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&k.fingerprint);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(WrappedKey {
            key_id: k.id.clone(),
            ciphertext: out,
        })
    }

    /// Unwraps synchronously.
    pub fn unwrap_sync(&self, wrapped: &[u8], ctx: &WrapContext) -> Result<SecretBytes> {
        let bad = |message: &str| KeyError::Unwrap {
            backend: KIND,
            message: message.to_string(),
        };
        if wrapped.len() < HEADER + aead::TAG_LEN {
            return Err(bad(
                "the wrapped key is too short to be a local-backend ciphertext",
            ));
        }
        if wrapped[0] != VERSION {
            return Err(bad(&format!(
                "unknown format version {} (this build reads version {VERSION})",
                wrapped[0]
            )));
        }
        let fp = &wrapped[1..1 + FP_LEN];
        let Some(k) = self.keys.iter().find(|k| k.fingerprint == fp) else {
            return Err(bad(&format!(
                "it was wrapped by key local:{}, which is not in {} (was the key removed?)",
                hex(fp),
                self.path.display()
            )));
        };
        let mut nonce = [0u8; aead::NONCE_LEN];
        nonce.copy_from_slice(&wrapped[1 + FP_LEN..HEADER]);
        aead::open(k.key.expose(), &nonce, &k.aad(ctx), &wrapped[HEADER..]).map_err(|_| {
            bad(&format!(
                "authentication failed under key {}: the context differs from the one used to wrap, or the data was altered",
                k.id
            ))
        })
    }
}

#[async_trait::async_trait]
impl KeyBackend for LocalBackend {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn key_id(&self) -> KeyId {
        self.keys[0].id.clone()
    }
    async fn wrap(&self, dek: &SecretBytes, ctx: &WrapContext) -> Result<WrappedKey> {
        self.wrap_sync(dek, ctx)
    }
    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<SecretBytes> {
        self.unwrap_sync(&wrapped.ciphertext, ctx)
    }
    async fn health(&self) -> Result<Health> {
        Ok(Health {
            key_id: self.key_id(),
            detail: format!("{} key(s) from {}", self.keys.len(), self.path.display()),
        })
    }
}

/// Reads a key file after checking its permissions.
fn read_key_file(path: &Path, allow_insecure: bool) -> Result<String> {
    let err = |message: String| KeyError::KeyFile {
        path: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let msg = format!(
                "mode {mode:03o} lets group or others access the keys; run `chmod 600` on it (or set defaultMode: 0400 on the Secret volume)"
            );
            if !allow_insecure {
                return Err(err(format!(
                    "{msg}, or set allow_insecure_permissions: true to only warn"
                )));
            }
            tracing::warn!(path = %path.display(), "{msg}");
        }
    }
    let _ = meta;
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let bytes = SecretBytes::new(bytes);
    std::str::from_utf8(bytes.expose())
        .map(str::to_string)
        .map_err(|_| err("not UTF-8 text (one base64 key per line expected)".into()))
}

/// A new random key as one key-file line (base64, no newline).
pub fn generate_key_line() -> Result<String> {
    let key = ksec_crypto::rand::secret(aead::KEY_LEN).map_err(|e| KeyError::Service {
        backend: KIND,
        status: None,
        message: e.to_string(),
        transient: false,
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(key.expose()))
}

/// Rotates a key file: writes a new random key on top of the existing ones (the
/// file is replaced atomically with mode 0600, or created). Returns the new key id.
pub fn rotate_key_file(path: &Path) -> Result<KeyId> {
    let err = |message: String| KeyError::KeyFile {
        path: path.to_path_buf(),
        message,
    };
    let old = match std::fs::read(path) {
        Ok(b) => SecretBytes::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => SecretBytes::default(),
        Err(e) => return Err(err(format!("cannot read: {e}"))),
    };
    let line = SecretBytes::new(generate_key_line()?.into_bytes());
    let mut text = SecretBytes::new(Vec::with_capacity(line.len() + 1 + old.len()));
    text.expose_mut().extend_from_slice(line.expose());
    text.expose_mut().push(b'\n');
    text.expose_mut().extend_from_slice(old.expose());
    let as_str = std::str::from_utf8(text.expose())
        .map_err(|_| err("not UTF-8 text".into()))?
        .to_string();
    let parsed = LocalBackend::from_text(path, &as_str)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("keys"),
        std::process::id()
    ));
    write_private(&tmp, text.expose())
        .map_err(|e| err(format!("cannot write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(format!("cannot replace: {e}"))
    })?;
    Ok(parsed.key_id())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(lines: &[&str]) -> LocalBackend {
        LocalBackend::from_text(Path::new("keys"), &lines.join("\n")).unwrap()
    }

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    #[test]
    fn round_trip_and_format() {
        let b = backend(&[K1]);
        let dek = SecretBytes::from_slice(&[7u8; 32]);
        let ctx = WrapContext::new().with("ns", "default");
        let w = b.wrap_sync(&dek, &ctx).unwrap();
        assert_eq!(w.ciphertext.len(), 69);
        assert_eq!(w.ciphertext[0], 1);
        assert_eq!(w.key_id, b.key_id());
        assert!(b.key_id().as_str().starts_with("local:"));
        assert_eq!(b.unwrap_sync(&w.ciphertext, &ctx).unwrap(), dek);
        // Fresh nonce every time.
        assert_ne!(b.wrap_sync(&dek, &ctx).unwrap().ciphertext, w.ciphertext);
    }

    #[test]
    fn context_and_tampering_are_detected() {
        let b = backend(&[K1]);
        let dek = SecretBytes::from_slice(b"0123456789abcdef0123456789abcdef");
        let w = b
            .wrap_sync(&dek, &WrapContext::new().with("a", "1"))
            .unwrap();
        let e = b
            .unwrap_sync(&w.ciphertext, &WrapContext::new().with("a", "2"))
            .unwrap_err();
        assert!(matches!(e, KeyError::Unwrap { .. }), "{e}");
        for i in 9..w.ciphertext.len() {
            let mut t = w.ciphertext.clone();
            t[i] ^= 1;
            assert!(b
                .unwrap_sync(&t, &WrapContext::new().with("a", "1"))
                .is_err());
        }
        assert!(b
            .unwrap_sync(&w.ciphertext[..30], &WrapContext::new())
            .is_err());
    }

    #[test]
    fn rotation_keeps_old_ciphertexts_readable() {
        let old = backend(&[K1]);
        let dek = SecretBytes::from_slice(&[1u8; 32]);
        let w = old.wrap_sync(&dek, &WrapContext::new()).unwrap();
        let rotated = backend(&["# rotated", K2, "", K1]);
        assert_ne!(rotated.key_id(), old.key_id());
        assert_eq!(rotated.key_ids()[1], old.key_id());
        assert_eq!(
            rotated
                .unwrap_sync(&w.ciphertext, &WrapContext::new())
                .unwrap(),
            dek
        );
        let w2 = rotated.wrap_sync(&dek, &WrapContext::new()).unwrap();
        assert_eq!(w2.key_id, rotated.key_id());
        // A file without the new key cannot read what the new key wrapped.
        let e = old
            .unwrap_sync(&w2.ciphertext, &WrapContext::new())
            .unwrap_err();
        assert!(e.to_string().contains("not in keys"), "{e}");
    }

    #[test]
    fn bad_lines_are_named_without_key_bytes() {
        let e = LocalBackend::from_text(Path::new("k"), &format!("{K1}\nnot base64!\n"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = LocalBackend::from_text(Path::new("k"), "AAAA\n")
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("line 1") && e.to_string().contains("32 bytes"),
            "{e}"
        );
        let e = LocalBackend::from_text(Path::new("k"), &format!("{K1}\n{K1}"))
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("twice") && !e.to_string().contains(K1),
            "{e}"
        );
        assert!(LocalBackend::from_text(Path::new("k"), "# only a comment\n").is_err());
        let dbg = format!("{:?}", backend(&[K1]));
        assert!(!dbg.contains(K1) && dbg.contains("local:"), "{dbg}");
    }

    #[test]
    fn random_key_files_never_panic() {
        let alphabet = b"AZaz09+/=#\n \r\t";
        let mut buf = [0u8; 200];
        for _ in 0..500 {
            ksec_crypto::rand::fill(&mut buf).unwrap();
            let text: String = buf
                .iter()
                .map(|b| alphabet[*b as usize % alphabet.len()] as char)
                .collect();
            let _ = LocalBackend::from_text(Path::new("k"), &text);
            let _ = LocalBackend::from_text(Path::new("k"), &String::from_utf8_lossy(&buf));
        }
    }

    #[test]
    fn fuzz_like_unwrap_never_panics() {
        let b = backend(&[K1]);
        let mut buf = [0u8; 100];
        for len in 0..100 {
            ksec_crypto::rand::fill(&mut buf).unwrap();
            buf[0] = 1;
            assert!(b.unwrap_sync(&buf[..len], &WrapContext::new()).is_err());
        }
    }
}
