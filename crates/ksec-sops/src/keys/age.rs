//! age recipients and identities, through the `age` crate (X25519 and SSH
//! ed25519/RSA), with armored payloads exactly as sops stores them.
//!
//! Identities come from where sops looks: `SOPS_AGE_KEY` (identity text),
//! `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD` (a command printing identities),
//! `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, and the default `sops/age/keys.txt` under
//! `$XDG_CONFIG_HOME` (else `~/.config`).
use super::{KeyService, Recipient};
use crate::metadata::MasterKey;
use age::armor::{ArmoredReader, ArmoredWriter, Format};
use ksec_crypto::SecretBytes;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::str::FromStr;

type BoxedIdentity = Box<dyn age::Identity + Send + Sync>;

/// age as a key service.
pub struct AgeService {
    identities: Vec<BoxedIdentity>,
    /// Where identities were looked for, and what was found or went wrong.
    pub sources: Vec<String>,
}

impl AgeService {
    /// A service with no identities (it can still encrypt).
    pub fn empty() -> Self {
        Self {
            identities: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// Adds the identities in `text` (an age identity file), naming `source` in messages.
    pub fn add_identities(&mut self, text: &str, source: &str) {
        match age::IdentityFile::from_buffer(text.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|f| f.into_identities().map_err(|e| e.to_string()))
        {
            Ok(ids) => {
                self.sources
                    .push(format!("{source} ({} identities)", ids.len()));
                self.identities.extend(ids);
            }
            Err(e) => self.sources.push(format!("{source}: unreadable ({e})")),
        }
    }

    /// Adds an SSH private key (ed25519 or RSA, unencrypted).
    pub fn add_ssh_identity(&mut self, text: &str, source: &str) {
        match age::ssh::Identity::from_buffer(text.as_bytes(), Some(source.to_string())) {
            Ok(age::ssh::Identity::Unencrypted(k)) => {
                self.sources.push(format!("{source} (ssh key)"));
                self.identities
                    .push(Box::new(age::ssh::Identity::Unencrypted(k)) as BoxedIdentity);
            }
            Ok(_) => self
                .sources
                .push(format!("{source}: encrypted or unsupported ssh key")),
            Err(e) => self.sources.push(format!("{source}: unreadable ({e})")),
        }
    }

    /// The identities the environment names.
    pub fn from_env() -> Self {
        let mut s = Self::empty();
        if let Ok(k) = std::env::var("SOPS_AGE_KEY") {
            s.add_identities(&k, "SOPS_AGE_KEY");
        }
        if let Some(p) = std::env::var_os("SOPS_AGE_KEY_FILE") {
            let p = PathBuf::from(p);
            match std::fs::read_to_string(&p) {
                Ok(t) => s.add_identities(&t, &format!("SOPS_AGE_KEY_FILE={}", p.display())),
                Err(e) => s
                    .sources
                    .push(format!("SOPS_AGE_KEY_FILE={}: {e}", p.display())),
            }
        }
        if let Ok(cmd) = std::env::var("SOPS_AGE_KEY_CMD") {
            match std::process::Command::new("sh").args(["-c", &cmd]).output() {
                Ok(o) if o.status.success() => {
                    let t =
                        zeroize::Zeroizing::new(String::from_utf8_lossy(&o.stdout).into_owned());
                    s.add_identities(&t, "SOPS_AGE_KEY_CMD");
                }
                Ok(o) => s
                    .sources
                    .push(format!("SOPS_AGE_KEY_CMD: command failed ({})", o.status)),
                Err(e) => s.sources.push(format!("SOPS_AGE_KEY_CMD: {e}")),
            }
        }
        if let Some(p) = std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            let p = PathBuf::from(p);
            if let Ok(t) = std::fs::read_to_string(&p) {
                s.add_ssh_identity(&t, &p.display().to_string());
            }
        }
        if let Some(p) = default_keys_file() {
            if let Ok(t) = std::fs::read_to_string(&p) {
                s.add_identities(&t, &p.display().to_string());
            } else {
                s.sources.push(format!("{} (not found)", p.display()));
            }
        }
        s
    }
}

/// `$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`.
pub fn default_keys_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("sops").join("age").join("keys.txt"))
}

fn parse_recipient(id: &str) -> Result<Box<dyn age::Recipient + Send>, String> {
    if id.starts_with("age1") {
        age::x25519::Recipient::from_str(id)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|e| format!("not a valid age recipient: {e}"))
    } else if id.starts_with("ssh-") {
        age::ssh::Recipient::from_str(id)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|e| format!("not a valid ssh recipient: {e:?}"))
    } else {
        Err("not an age recipient (age1…) or ssh public key (ssh-ed25519/ssh-rsa)".into())
    }
}

/// Encrypts `data` to one age recipient, armored as sops stores it.
pub fn encrypt_armored(recipient: &str, data: &[u8]) -> Result<String, String> {
    let r = parse_recipient(recipient)?;
    let enc = age::Encryptor::with_recipients(std::iter::once(r.as_ref() as &dyn age::Recipient))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let armor =
        ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(|e| e.to_string())?;
    let mut w = enc.wrap_output(armor).map_err(|e| e.to_string())?;
    w.write_all(data).map_err(|e| e.to_string())?;
    w.finish()
        .and_then(|a| a.finish())
        .map_err(|e| e.to_string())?;
    let mut s = String::from_utf8(out).map_err(|e| e.to_string())?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

impl AgeService {
    /// Decrypts an armored (or binary) age payload with the loaded identities.
    pub fn decrypt_payload(&self, enc: &str) -> Result<SecretBytes, String> {
        if self.identities.is_empty() {
            let looked = if self.sources.is_empty() {
                "no SOPS_AGE_KEY, SOPS_AGE_KEY_FILE or SOPS_AGE_KEY_CMD set".to_string()
            } else {
                self.sources.join("; ")
            };
            return Err(format!("no age identity available (looked at: {looked})"));
        }
        let reader = ArmoredReader::new(enc.trim_start().as_bytes());
        let d = age::Decryptor::new(reader).map_err(|e| format!("not an age payload: {e}"))?;
        let mut r = d
            .decrypt(
                self.identities
                    .iter()
                    .map(|i| i.as_ref() as &dyn age::Identity),
            )
            .map_err(|e| format!("none of the age identities matched ({e})"))?;
        let mut out = SecretBytes::new(Vec::new());
        r.read_to_end(out.expose_mut())
            .map_err(|e| format!("age payload is damaged: {e}"))?;
        Ok(out)
    }
}

impl KeyService for AgeService {
    fn kinds(&self) -> &[&'static str] {
        &["age"]
    }

    fn wrap(&self, to: &Recipient, dek: &SecretBytes) -> Result<MasterKey, String> {
        Ok(MasterKey::Age {
            recipient: to.id.clone(),
            enc: encrypt_armored(&to.id, dek.expose())?,
        })
    }

    fn unwrap(&self, key: &MasterKey) -> Result<SecretBytes, String> {
        match key {
            MasterKey::Age { enc, .. } => self.decrypt_payload(enc),
            _ => Err("not an age key".into()),
        }
    }
}

/// Generates a new X25519 identity: its text (`AGE-SECRET-KEY-1…`) and its
/// recipient (`age1…`), as `age-keygen` does.
pub fn generate() -> (zeroize::Zeroizing<String>, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let text = zeroize::Zeroizing::new(id.to_string().expose_secret().to_string());
    (text, id.to_public().to_string())
}
