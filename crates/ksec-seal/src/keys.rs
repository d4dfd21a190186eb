//! Sealing keys: the controller's RSA key pairs and their certificates, in Bitnami's
//! formats (PEM files, `kubernetes.io/tls` Secrets labelled
//! `sealedsecrets.bitnami.com/sealed-secrets-key`, and `kind: List` backups of them).
use crate::docs;
use crate::error::{Error, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ksec_crypto::pem;
use ksec_crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use ksec_crypto::x509::{self, Certificate};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// Label that marks a Secret as a sealing key.
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
/// Name prefix of key Secrets (the controller's `--key-prefix` default).
pub const KEY_PREFIX: &str = "sealed-secrets-key";
/// Common name of the controller's certificates (`--my-cn` default: none).
pub const DEFAULT_CN: &str = "";
/// Validity of new certificates (`--key-ttl` default, 10 years).
pub const DEFAULT_TTL: Duration = Duration::from_secs(87_600 * 3600);

/// A private sealing key, with its certificate when one was found next to it.
#[derive(Clone, Debug)]
pub struct SealingKey {
    /// The RSA private key.
    pub key: RsaPrivateKey,
    /// Its certificate (`tls.crt`), if known.
    pub cert: Option<Certificate>,
    /// Where it came from, for messages: `file.pem`, `keys.yaml: Secret kube-system/sealed-secrets-keyabc`.
    pub source: String,
}

impl SealingKey {
    /// Generates a key of `bits` with a self-signed certificate like the controller's.
    pub fn generate(
        bits: usize,
        common_name: &str,
        not_before: SystemTime,
        ttl: Duration,
    ) -> Result<Self> {
        let key = RsaPrivateKey::generate(bits).map_err(|e| Error::from(e).within("new key"))?;
        let cert = x509::self_signed_sealing_cert(&key, common_name, not_before, ttl)
            .map_err(|e| Error::from(e).within("new key"))?;
        Ok(Self {
            key,
            cert: Some(cert),
            source: "generated".into(),
        })
    }

    /// The key Secret as the Bitnami controller writes it (`kubernetes.io/tls`,
    /// `tls.key` PKCS#1 PEM, `tls.crt` PEM, labelled active). Holds the private key:
    /// render it straight to its destination.
    pub fn to_secret_value(&self, name: &str, namespace: &str) -> Result<Value> {
        let key_pem = self
            .key
            .to_pkcs1_pem()
            .map_err(|e| Error::from(e).within(&self.source))?;
        let cert = self
            .cert
            .as_ref()
            .ok_or_else(|| Error::NoCertificate.within(&self.source))?;
        Ok(json!({
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "creationTimestamp": null,
                "labels": {KEY_LABEL: "active"}
            },
            "data": {
                "tls.crt": STANDARD.encode(cert.to_pem()),
                "tls.key": STANDARD.encode(key_pem.as_bytes()),
            },
            "type": "kubernetes.io/tls"
        }))
    }

    /// The public key.
    pub fn public_key(&self) -> &RsaPublicKey {
        self.key.public_key()
    }
}

/// A name for a new key Secret: the prefix and five random characters, as the API
/// server's `generateName` would make it.
pub fn new_key_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let rnd = ksec_crypto::rand::array::<5>().unwrap_or([0; 5]);
    let suffix: String = rnd
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{prefix}{suffix}")
}

/// Reads private keys from a file's bytes: PEM (`RSA PRIVATE KEY` or `PRIVATE KEY`
/// blocks, with a `CERTIFICATE` next to them), or YAML/JSON holding key Secrets
/// (`tls.key`), a `kind: List` of them, or several documents.
pub fn load_private_keys(bytes: &[u8], source: &str) -> Result<Vec<SealingKey>> {
    let blocks = pem::parse_all(bytes);
    let has_key = blocks.iter().any(|b| b.label.ends_with("PRIVATE KEY"));
    if has_key {
        let cert = Certificate::from_pem(bytes).ok();
        let mut out = vec![];
        for key in blocks.iter().filter_map(RsaPrivateKey::from_pem_block) {
            let key = key.map_err(|e| Error::from(e).within(source))?;
            let cert = cert.clone().filter(|c| {
                c.rsa_public_key()
                    .is_ok_and(|p| p.spki_der() == key.public_key().spki_der())
            });
            out.push(SealingKey {
                key,
                cert,
                source: source.to_string(),
            });
        }
        return Ok(out);
    }
    let docs = docs::parse_documents(bytes).map_err(|e| {
        Error::NotAKeyFile {
            reason: Box::new(e),
        }
        .within(source)
    })?;
    let docs = docs::flatten_lists(docs);
    if docs.is_empty() {
        return Err(Error::NoPrivateKey.within(source));
    }
    let mut out = vec![];
    for d in &docs {
        let name = d
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)");
        let ns = d
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let item = if ns.is_empty() {
            format!("{source}: Secret {name}")
        } else {
            format!("{source}: Secret {ns}/{name}")
        };
        if d.get("kind").and_then(Value::as_str) != Some("Secret") {
            return Err(Error::NotAKeySecret.within(item));
        }
        let field = |k: &str| -> Result<Option<Vec<u8>>> {
            match d
                .pointer(&format!(
                    "/data/{}",
                    k.replace('~', "~0").replace('/', "~1")
                ))
                .and_then(Value::as_str)
            {
                None => Ok(None),
                Some(b64) => STANDARD.decode(b64.trim()).map(Some).map_err(|_| {
                    Error::Field {
                        field: format!("data.{k}"),
                        problem: "not valid base64".into(),
                    }
                    .within(&item)
                }),
            }
        };
        let key_pem = field("tls.key")?.ok_or_else(|| {
            Error::MissingKeyField {
                field: "data.tls.key",
            }
            .within(&item)
        })?;
        let key = RsaPrivateKey::from_pem(&key_pem)
            .map_err(|e| Error::from(e).within("data.tls.key").within(&item))?;
        let cert = match field("tls.crt")? {
            Some(c) => Some(
                Certificate::from_pem(&c)
                    .map_err(|e| Error::from(e).within("data.tls.crt").within(&item))?,
            ),
            None => None,
        };
        out.push(SealingKey {
            key,
            cert,
            source: item,
        });
    }
    Ok(out)
}

/// Reads the sealing certificate (first `CERTIFICATE` in PEM), checks it holds an
/// RSA key and has not expired at `now`, as kubeseal does.
pub fn load_sealing_cert(
    bytes: &[u8],
    source: &str,
    now: SystemTime,
) -> Result<(Certificate, RsaPublicKey)> {
    let cert = Certificate::from_pem(bytes).map_err(|e| Error::from(e).within(source))?;
    let public = cert
        .rsa_public_key()
        .map_err(|e| Error::from(e).within(source))?;
    if cert.is_expired_at(now) {
        return Err(Error::CertificateExpired {
            date: utc_date(cert.not_after),
        }
        .within(source));
    }
    Ok((cert, public))
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
pub fn utc_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_keys::{key_a, CERT_A_PEM, CERT_EC_PEM, KEY_A_PEM, KEY_B_PEM};

    #[test]
    fn pem_keys_pair_with_their_certificate() {
        let mut text = KEY_A_PEM.to_vec();
        text.extend_from_slice(CERT_A_PEM);
        let keys = load_private_keys(&text, "a.pem").unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys[0].cert.is_some());
        let mut two = KEY_A_PEM.to_vec();
        two.extend_from_slice(KEY_B_PEM);
        let keys = load_private_keys(&two, "ab.pem").unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.iter().all(|k| k.cert.is_none()));
    }

    #[test]
    fn key_secret_round_trips_through_a_list() {
        let k = SealingKey {
            key: key_a().clone(),
            cert: Some(Certificate::from_pem(CERT_A_PEM).unwrap()),
            source: "t".into(),
        };
        let s = k
            .to_secret_value("sealed-secrets-keyabcde", "kube-system")
            .unwrap();
        assert_eq!(s["type"], "kubernetes.io/tls");
        assert_eq!(s["metadata"]["labels"][KEY_LABEL], "active");
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [s.clone(), s]});
        let keys = load_private_keys(
            serde_json::to_string(&list).unwrap().as_bytes(),
            "backup.json",
        )
        .unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys[0].public_key().spki_der(),
            key_a().public_key().spki_der()
        );
        assert!(keys[0]
            .source
            .contains("kube-system/sealed-secrets-keyabcde"));
    }

    #[test]
    fn bad_key_files_are_explained() {
        let e = load_private_keys(b"kind: Secret\nmetadata: {name: x}\ndata: {}\n", "k.yaml")
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("k.yaml: Secret x: the Secret has no data.tls.key"),
            "{e}"
        );
        let e = load_private_keys(b"kind: ConfigMap\n", "k.yaml").unwrap_err();
        assert!(e.to_string().contains("not a Secret"), "{e}");
        let e = load_private_keys(b"", "empty.pem").unwrap_err();
        assert!(e.to_string().contains("empty.pem"), "{e}");
    }

    #[test]
    fn certificates_are_checked() {
        let now = SystemTime::now();
        assert!(load_sealing_cert(CERT_A_PEM, "a.crt", now).is_ok());
        let e = load_sealing_cert(CERT_EC_PEM, "ec.crt", now).unwrap_err();
        assert!(e.to_string().contains("expected an RSA public key"), "{e}");
        let old = x509::self_signed_sealing_cert(
            key_a(),
            "old",
            now - Duration::from_secs(3 * 86_400),
            Duration::from_secs(86_400),
        )
        .unwrap();
        let e = load_sealing_cert(old.to_pem().as_bytes(), "old.crt", now).unwrap_err();
        assert!(
            matches!(e.innermost(), Error::CertificateExpired { .. }),
            "{e}"
        );
        let e = load_sealing_cert(KEY_A_PEM, "key.pem", now).unwrap_err();
        assert!(e.to_string().contains("no PEM CERTIFICATE"), "{e}");
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(4_102_444_800), "2100-01-01");
    }

    #[test]
    fn key_names_look_generated() {
        let n = new_key_name(KEY_PREFIX);
        assert_eq!(n.len(), KEY_PREFIX.len() + 5);
        assert_ne!(new_key_name(KEY_PREFIX), new_key_name(KEY_PREFIX));
    }
}
