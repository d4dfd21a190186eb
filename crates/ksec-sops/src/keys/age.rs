//! age recipients and identities, through the `age` crate (X25519, SSH
//! ed25519/RSA, and age plugins: `age1NAME1…` recipients and
//! `AGE-PLUGIN-NAME-1…` identities served by `age-plugin-NAME` on `PATH`, see
//! [`super::age_plugin`]), with armored payloads exactly as sops stores them.
//!
//! Identities come from where sops looks: `SOPS_AGE_KEY` (identity text),
//! `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD` (a command printing identities),
//! `SOPS_AGE_SSH_PRIVATE_KEY_FILE` (else `~/.ssh/id_ed25519`, `~/.ssh/id_rsa`), and the default `sops/age/keys.txt` under
//! `$XDG_CONFIG_HOME` (else `~/.config`).
use super::age_plugin::{self, NonInteractive};
use super::{KeyService, Recipient};
use crate::metadata::MasterKey;
use crate::Error;
use age::armor::{ArmoredReader, ArmoredWriter, Format};
use ksec_crypto::SecretBytes;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::str::FromStr;

type BoxedIdentity = Box<dyn age::Identity + Send + Sync>;

/// age as a key service.
pub struct AgeService {
    identities: Vec<BoxedIdentity>,
    /// The callbacks of the plugin identities, to explain their failures.
    plugins: Vec<NonInteractive>,
    /// Plugin identities whose binaries are missing, as messages.
    missing_plugins: Vec<String>,
    /// Where identities were looked for, and what was found or went wrong.
    pub sources: Vec<String>,
}

impl AgeService {
    /// A service with no identities (it can still encrypt).
    pub fn empty() -> Self {
        Self {
            identities: Vec::new(),
            plugins: Vec::new(),
            missing_plugins: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// Adds the identities in `text` (an age identity file: X25519 and plugin
    /// identities), naming `source` in messages. A plugin whose binary is not on
    /// `PATH` is noted (and named when decryption fails), not fatal: other
    /// identities may still open the file.
    pub fn add_identities(&mut self, text: &str, source: &str) {
        // Plugin lines are resolved here, one plugin process per plugin; the rest
        // goes to the age crate's parser with plugin lines blanked, so that its
        // line numbers stay right.
        let mut native = zeroize::Zeroizing::new(String::with_capacity(text.len()));
        let mut plugin_ids = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with("AGE-PLUGIN-") {
                match line.parse::<age::plugin::Identity>() {
                    Ok(i) => plugin_ids.push(i),
                    Err(e) => {
                        self.sources.push(format!(
                            "{source}: unreadable (line {}: not a valid age plugin identity: {e})",
                            n + 1
                        ));
                        return;
                    }
                }
            } else {
                native.push_str(line);
            }
            native.push('\n');
        }
        let ids = match age::IdentityFile::from_buffer(native.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|f| f.into_identities().map_err(|e| e.to_string()))
        {
            Ok(ids) => ids,
            Err(e) => {
                self.sources.push(format!("{source}: unreadable ({e})"));
                return;
            }
        };
        let count = ids.len() + plugin_ids.len();
        self.identities.extend(ids);
        let loaded = age_plugin::identities(plugin_ids);
        let mut note = String::new();
        for (id, cb) in loaded.identities {
            note.push_str(&format!(", {}", cb.binary()));
            self.identities.push(id);
            self.plugins.push(cb);
        }
        for m in loaded.missing {
            note.push_str(&format!(", {m}"));
            self.missing_plugins.push(format!("{source}: {m}"));
        }
        self.sources
            .push(format!("{source} ({count} identities{note})"));
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
        // An SSH key: the one named, else ~/.ssh/id_ed25519 or ~/.ssh/id_rsa, as sops does.
        let ssh_keys: Vec<PathBuf> = match std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            Some(p) => vec![PathBuf::from(p)],
            None => std::env::var_os("HOME")
                .map(|h| {
                    let d = PathBuf::from(h).join(".ssh");
                    vec![d.join("id_ed25519"), d.join("id_rsa")]
                })
                .unwrap_or_default(),
        };
        for p in ssh_keys {
            if let Ok(t) = std::fs::read_to_string(&p) {
                s.add_ssh_identity(&t, &p.display().to_string());
                break;
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
pub(crate) fn default_keys_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("sops").join("age").join("keys.txt"))
}

type BoxedRecipient = Box<dyn age::Recipient + Send>;

/// A recipient, and for a plugin recipient the callbacks that explain its failures.
fn parse_recipient(id: &str) -> Result<(BoxedRecipient, Option<NonInteractive>), String> {
    // Bech32: the human-readable part ends at the last `1`; `age` is X25519,
    // `age1NAME` (age1yubikey1…) is a plugin recipient.
    let hrp = id.rsplit_once('1').map(|(h, _)| h.to_ascii_lowercase());
    if hrp.as_deref() == Some("age") {
        age::x25519::Recipient::from_str(id)
            .map(|r| (Box::new(r) as BoxedRecipient, None))
            .map_err(|e| format!("not a valid age recipient: {e}"))
    } else if hrp.as_deref().is_some_and(|h| h.starts_with("age1")) {
        age_plugin::recipient(id).map(|(r, cb)| (r, Some(cb)))
    } else if id.starts_with("ssh-") {
        age::ssh::Recipient::from_str(id)
            .map(|r| (Box::new(r) as BoxedRecipient, None))
            .map_err(|e| format!("not a valid ssh recipient: {e:?}"))
    } else {
        Err(
            "not an age recipient (age1…, age1PLUGIN1…) or ssh public key (ssh-ed25519/ssh-rsa)"
                .into(),
        )
    }
}

/// Encrypts `data` to one age recipient, armored as sops stores it.
pub fn encrypt_armored(recipient: &str, data: &[u8]) -> Result<String, Error> {
    let (r, cb) = parse_recipient(recipient).map_err(Error::key_service)?;
    let explain = |e: String| match &cb {
        Some(cb) => cb.explain(e),
        None => e,
    };
    encrypt_with(r.as_ref(), data)
        .map_err(explain)
        .map_err(Error::key_service)
}

fn encrypt_with(r: &(dyn age::Recipient + Send), data: &[u8]) -> Result<String, String> {
    let enc = age::Encryptor::with_recipients(std::iter::once(r as &dyn age::Recipient))
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
    pub fn decrypt_payload(&self, enc: &str) -> Result<SecretBytes, Error> {
        self.decrypt_armored(enc).map_err(Error::key_service)
    }

    fn decrypt_armored(&self, enc: &str) -> Result<SecretBytes, String> {
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
            .map_err(|e| self.decrypt_error(e))?;
        let mut out = SecretBytes::new(Vec::new());
        r.read_to_end(out.expose_mut())
            .map_err(|e| format!("age payload is damaged: {e}"))?;
        Ok(out)
    }
}

impl AgeService {
    /// Why no identity opened a payload, with the plugins that were missing or
    /// asked for input.
    fn decrypt_error(&self, e: age::DecryptError) -> String {
        let mut msg = match e {
            age::DecryptError::NoMatchingKeys => "none of the age identities matched".to_string(),
            e => format!(
                "age decryption failed: {}",
                age_plugin::plain(&e.to_string())
            ),
        };
        if !self.missing_plugins.is_empty() {
            msg.push_str(&format!(" ({})", self.missing_plugins.join("; ")));
        }
        self.plugins.iter().fold(msg, |m, cb| cb.explain(m))
    }
}

impl KeyService for AgeService {
    fn kinds(&self) -> &[&'static str] {
        &["age"]
    }

    fn wrap(&self, to: &Recipient, dek: &SecretBytes) -> Result<MasterKey, Error> {
        Ok(MasterKey::Age {
            recipient: to.id.clone(),
            enc: encrypt_armored(&to.id, dek.expose())?,
        })
    }

    fn unwrap(&self, key: &MasterKey) -> Result<SecretBytes, Error> {
        match key {
            MasterKey::Age { enc, .. } => self.decrypt_payload(enc),
            _ => Err(Error::key_service("not an age key")),
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
