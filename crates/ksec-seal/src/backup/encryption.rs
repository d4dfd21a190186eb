//! age encryption of backups, through the `age` crate (rage): X25519 recipients and
//! identities (`age1…`, `AGE-SECRET-KEY-1…`, as `age-keygen` writes them) and SSH keys
//! (`ssh-ed25519`, `ssh-rsa`; unencrypted private keys). Output is ASCII-armored.
//!
//! age decrypts SSH RSA identities with the `rsa` crate (RUSTSEC-2023-0071, a timing side
//! channel that needs many oracle queries): acceptable for a command-line restore of a
//! user's own file, and this module is never on a server path.
use super::{Backup, MAX_BACKUP_BYTES};
use crate::error::{Error, Result};
use age::armor::{ArmoredReader, ArmoredWriter, Format};
use std::io::{Read, Write};
use std::str::FromStr;
use zeroize::Zeroizing;

/// The public keys a backup is encrypted to.
pub struct Recipients {
    keys: Vec<Box<dyn age::Recipient + Send>>,
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recipients({})", self.keys.len())
    }
}

impl Recipients {
    /// Parses recipients: `age1…` (X25519) or an SSH public key line (`ssh-ed25519 AAAA…
    /// comment`, `ssh-rsa AAAA…`). The error names the recipient that is wrong.
    pub fn parse<'a>(list: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let mut keys: Vec<Box<dyn age::Recipient + Send>> = vec![];
        for r in list {
            let r = r.trim();
            let bad = |problem: &str| Error::Recipient {
                recipient: shorten(r),
                problem: problem.to_string(),
            };
            if r.starts_with("age1") {
                let k = age::x25519::Recipient::from_str(r).map_err(bad)?;
                keys.push(Box::new(k));
            } else if r.starts_with("ssh-") {
                let k = age::ssh::Recipient::from_str(r).map_err(|e| {
                    bad(match e {
                        age::ssh::ParseRecipientKeyError::Unsupported(t) => {
                            format!(
                                "SSH key type {t} is not supported (use ssh-ed25519 or ssh-rsa)"
                            )
                        }
                        age::ssh::ParseRecipientKeyError::RsaModulusTooSmall => {
                            "the ssh-rsa key is smaller than 2048 bits, too weak for age".into()
                        }
                        age::ssh::ParseRecipientKeyError::RsaModulusTooLarge => {
                            "the ssh-rsa key is larger than age supports".into()
                        }
                        _ => "not a valid SSH public key".into(),
                    }
                    .as_str())
                })?;
                keys.push(Box::new(k));
            } else if r.starts_with("AGE-SECRET-KEY-") {
                return Err(Error::Recipient {
                    recipient: "AGE-SECRET-KEY-…".into(),
                    problem: "this is an age identity (a private key), not a recipient; give its public key (age1…, as age-keygen -y prints it)".into(),
                });
            } else {
                return Err(bad(
                    "not an age recipient (age1…) or an SSH public key (ssh-ed25519 …, ssh-rsa …)",
                ));
            }
        }
        if keys.is_empty() {
            return Err(Error::Recipient {
                recipient: String::new(),
                problem: "no recipients: a backup must be encrypted to at least one".into(),
            });
        }
        Ok(Self { keys })
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there are none (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A recipient in a message: public, but possibly long (ssh-rsa).
fn shorten(r: &str) -> String {
    if r.chars().count() <= 60 {
        r.to_string()
    } else {
        format!("{}…", r.chars().take(60).collect::<String>())
    }
}

/// The private keys a backup is opened with.
#[derive(Default)]
pub struct Identities {
    keys: Vec<Box<dyn age::Identity + Send + Sync>>,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities({}, redacted)", self.keys.len())
    }
}

impl Identities {
    /// No identities yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the identities of a file: an age identity file (`AGE-SECRET-KEY-1…` lines,
    /// `#` comments), or an unencrypted OpenSSH or PEM SSH private key. `source` names it
    /// in errors.
    pub fn add_file(&mut self, bytes: &[u8], source: &str) -> Result<()> {
        let err = |problem: String| Error::Identity { problem }.within(source);
        if bytes.len() > 1 << 20 {
            return Err(Error::TooLarge { limit: 1 << 20 }.within(source));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| {
            err("not a text file: expected an age identity file or an SSH private key".into())
        })?;
        if text.contains("-----BEGIN") {
            let id = age::ssh::Identity::from_buffer(text.as_bytes(), Some(source.to_string()))
                .map_err(|e| err(format!("not a readable SSH private key ({e})")))?;
            return match id {
                age::ssh::Identity::Unencrypted(_) => {
                    self.keys.push(Box::new(id));
                    Ok(())
                }
                age::ssh::Identity::Encrypted(_) => Err(err(
                    "the SSH private key is protected by a passphrase, which ksec cannot ask for; use an unencrypted copy or an age identity".into(),
                )),
                age::ssh::Identity::Unsupported(_) => Err(err(
                    "unsupported SSH key type (age takes ssh-ed25519 and ssh-rsa keys)".into(),
                )),
            };
        }
        let file = age::IdentityFile::from_buffer(text.as_bytes())
            .map_err(|e| err(format!("not an age identity file ({e})")))?;
        let ids = file
            .into_identities()
            .map_err(|e| err(format!("cannot use its identities ({e})")))?;
        if ids.is_empty() {
            return Err(err(
                "holds no identity (expected AGE-SECRET-KEY-1… lines, as age-keygen writes them)"
                    .into(),
            ));
        }
        self.keys.extend(ids);
        Ok(())
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl Backup {
    /// The backup encrypted to `recipients`, ASCII-armored (`-----BEGIN AGE ENCRYPTED
    /// FILE-----`); any one of their identities opens it.
    pub fn encrypt(&self, recipients: &Recipients) -> Result<String> {
        let plain = self.to_manifest();
        let enc_err = |e: &dyn std::fmt::Display| Error::Encrypt {
            problem: e.to_string(),
        };
        let enc = age::Encryptor::with_recipients(
            recipients
                .keys
                .iter()
                .map(|r| r.as_ref() as &dyn age::Recipient),
        )
        .map_err(|e| enc_err(&e))?;
        let mut out = vec![];
        let armor =
            ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(|e| enc_err(&e))?;
        let mut w = enc.wrap_output(armor).map_err(|e| enc_err(&e))?;
        w.write_all(plain.as_bytes()).map_err(|e| enc_err(&e))?;
        w.finish()
            .and_then(|armor| armor.finish())
            .map_err(|e| enc_err(&e))?;
        let mut text = String::from_utf8(out).map_err(|e| enc_err(&e))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Ok(text)
    }

    /// Opens an encrypted backup (armored or binary age) with `identities`. `source`
    /// names it in errors.
    pub fn decrypt(bytes: &[u8], identities: &Identities, source: &str) -> Result<Self> {
        if bytes.len() > MAX_BACKUP_BYTES {
            return Err(Error::TooLarge {
                limit: MAX_BACKUP_BYTES,
            }
            .within(source));
        }
        if identities.is_empty() {
            return Err(Error::NoMatchingIdentity { tried: 0 }.within(source));
        }
        let dec = age::Decryptor::new(ArmoredReader::new(bytes)).map_err(|e| {
            Error::Decrypt {
                problem: format!("not an age file or damaged ({e})"),
            }
            .within(source)
        })?;
        let reader = dec
            .decrypt(
                identities
                    .keys
                    .iter()
                    .map(|i| i.as_ref() as &dyn age::Identity),
            )
            .map_err(|e| {
                match e {
                    age::DecryptError::NoMatchingKeys => Error::NoMatchingIdentity {
                        tried: identities.len(),
                    },
                    e => Error::Decrypt {
                        problem: e.to_string(),
                    },
                }
                .within(source)
            })?;
        let mut plain = Zeroizing::new(Vec::new());
        reader
            .take(MAX_BACKUP_BYTES as u64 + 1)
            .read_to_end(&mut plain)
            .map_err(|e| {
                Error::Decrypt {
                    problem: format!("the file is damaged ({e})"),
                }
                .within(source)
            })?;
        Backup::from_manifest(&plain, source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::is_encrypted;
    use crate::keys::SealingKey;
    use crate::test_keys::{key_a, CERT_A_PEM};
    use age::secrecy::ExposeSecret;
    use ksec_crypto::x509::Certificate;

    fn backup() -> Backup {
        let v = SealingKey {
            key: key_a().clone(),
            cert: Some(Certificate::from_pem(CERT_A_PEM).unwrap()),
            source: "t".into(),
        }
        .to_secret_value("sealed-secrets-keyabcde", "kube-system")
        .unwrap();
        Backup::from_secrets(&[v], "cluster").unwrap()
    }

    fn identity() -> (String, String) {
        let id = age::x25519::Identity::generate();
        (
            id.to_string().expose_secret().to_string(),
            id.to_public().to_string(),
        )
    }

    #[test]
    fn round_trip_to_several_recipients() {
        let (id1, r1) = identity();
        let (id2, r2) = identity();
        let b = backup();
        let text = b
            .encrypt(&Recipients::parse([r1.as_str(), r2.as_str()]).unwrap())
            .unwrap();
        assert!(
            text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"),
            "{text}"
        );
        assert!(is_encrypted(text.as_bytes()));
        assert!(!text.contains("kube-system"));
        for id in [&id1, &id2] {
            let mut ids = Identities::new();
            ids.add_file(format!("# created: now\n{id}\n").as_bytes(), "key.txt")
                .unwrap();
            let back = Backup::decrypt(text.as_bytes(), &ids, "backup.age").unwrap();
            assert_eq!(back.keys()[0].fingerprint(), b.keys()[0].fingerprint());
        }
        // The wrong identity: named, and what to do.
        let (other, _) = identity();
        let mut ids = Identities::new();
        ids.add_file(other.as_bytes(), "other.txt").unwrap();
        let e = Backup::decrypt(text.as_bytes(), &ids, "backup.age").unwrap_err();
        assert_eq!(
            e.to_string(),
            "backup.age: none of the 1 identities opens it: the backup was encrypted to other recipients"
        );
        // Damaged.
        let mut ids = Identities::new();
        ids.add_file(id1.as_bytes(), "key.txt").unwrap();
        let cut = &text[..text.len() / 2];
        assert!(Backup::decrypt(cut.as_bytes(), &ids, "cut.age")
            .unwrap_err()
            .to_string()
            .starts_with("cut.age: cannot decrypt"));
    }

    #[test]
    fn bad_recipients_and_identities_are_explained() {
        let e = Recipients::parse(["age1notakey"]).unwrap_err().to_string();
        assert!(e.starts_with("recipient \"age1notakey\""), "{e}");
        let e = Recipients::parse(["ssh-dss AAAAB3NzaC1kc3MAAACBAP"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ssh-dss"), "{e}");
        let (id, _) = identity();
        let e = Recipients::parse([id.as_str()]).unwrap_err().to_string();
        assert!(
            e.contains("not a recipient") && !e.contains(&id[20..]),
            "{e}"
        );
        let e = Recipients::parse(["hunter2"]).unwrap_err().to_string();
        assert!(e.contains("not an age recipient"), "{e}");
        assert!(Recipients::parse([]).is_err());
        let mut ids = Identities::new();
        let e = ids
            .add_file(b"# nothing\n", "empty.txt")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("empty.txt: holds no identity"), "{e}");
        let e = ids
            .add_file(b"AGE-SECRET-KEY-1XYZ\n", "bad.txt")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("bad.txt: not an age identity file"), "{e}");
        assert!(!e.contains("XYZ"), "{e}");
    }
}
