//! Backups of the sealing keys: the one thing whose loss makes every SealedSecret in git
//! worthless.
//!
//! A backup is the controller's key Secrets as a `v1 List` (Bitnami's format, what
//! `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` gives,
//! without the fields the API server sets), encrypted with age to one or more recipients
//! (X25519 `age1…` and SSH `ssh-ed25519`/`ssh-rsa` keys), ASCII-armored so it can live in
//! git or object storage. Decrypted by anything that speaks age (`age -d -i key.txt`),
//! the List is what `kubectl apply -f`, `kubeseal --recovery-private-key` and
//! `ksec unseal -k` read.
//!
//! [`Backup`] holds the key Secrets, wiped from memory when dropped; it never prints key
//! material (`Debug` shows names and fingerprints). [`plan_restore`] decides, against
//! the key Secrets a cluster already has, which to create: an existing key is never
//! overwritten. Encryption needs the `age` feature ([`Recipients`], [`Identities`],
//! [`Backup::encrypt`], [`Backup::decrypt`]).
use crate::docs;
use crate::error::{Error, Result};
use crate::keys::{self, SealingKey};
use crate::render::{self, Format};
use serde_json::{json, Map, Value};
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

#[cfg(feature = "age")]
mod encryption;
#[cfg(feature = "age")]
pub use encryption::{Identities, Recipients};

/// The largest backup read (encrypted or not): thousands of 4096-bit keys.
pub const MAX_BACKUP_BYTES: usize = 16 << 20;

/// The annotation `kubectl apply` leaves on objects: a second copy of the whole Secret,
/// key included. Not carried into a backup.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// True when `bytes` is an age file (armored or binary), as opposed to a plain manifest.
pub fn is_encrypted(bytes: &[u8]) -> bool {
    let text = bytes.trim_ascii_start();
    text.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
        || text.starts_with(b"age-encryption.org/v1\n")
}

/// One key Secret of a backup: where it lives, the Secret to create again, and its key.
pub struct KeySecret {
    namespace: String,
    name: String,
    secret: Value,
    key: SealingKey,
}

impl Drop for KeySecret {
    fn drop(&mut self) {
        wipe(&mut self.secret);
    }
}

/// Zeroes every string of a JSON value (the base64 of `tls.key` among them): for the
/// caller's copies of key Secrets (an API answer, parsed files) once a [`Backup`] holds
/// what it needs.
pub fn wipe(v: &mut Value) {
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(a) => a.iter_mut().for_each(wipe),
        Value::Object(m) => m.values_mut().for_each(wipe),
        _ => {}
    }
}

impl fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySecret")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl KeySecret {
    /// Reads a key Secret (`kubernetes.io/tls` with `tls.key` and `tls.crt`, a name and a
    /// namespace). The copy kept is the Secret without what the API server sets (uid,
    /// resourceVersion, creationTimestamp, managedFields, owner references) and without
    /// `kubectl apply`'s annotation. `source` names the input in errors.
    pub fn from_secret(secret: &Value, source: &str) -> Result<Self> {
        let meta = |k: &str| {
            secret
                .pointer(&format!("/metadata/{k}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (namespace, name) = (meta("namespace"), meta("name"));
        let item = match (namespace.is_empty(), name.is_empty()) {
            (_, true) => format!("{source}: Secret (unnamed)"),
            (true, false) => format!("{source}: Secret {name}"),
            (false, false) => format!("{source}: Secret {namespace}/{name}"),
        };
        let key = keys::key_from_secret(secret, &item)?;
        if name.is_empty() {
            return Err(field("metadata.name", "missing: a key Secret needs a name").within(item));
        }
        if namespace.is_empty() {
            return Err(field(
                "metadata.namespace",
                "missing: a key Secret lives in the controller's namespace",
            )
            .within(item));
        }
        if key.cert.is_none() {
            return Err(Error::MissingKeyField {
                field: "data.tls.crt",
            }
            .within(item));
        }
        let mut metadata = Map::new();
        metadata.insert("name".into(), json!(name));
        metadata.insert("namespace".into(), json!(namespace));
        for k in ["labels", "annotations"] {
            if let Some(Value::Object(m)) = secret.pointer(&format!("/metadata/{k}")) {
                let mut m = m.clone();
                m.remove(LAST_APPLIED);
                if !m.is_empty() {
                    metadata.insert(k.into(), Value::Object(m));
                }
            }
        }
        let mut clean = Map::new();
        clean.insert("apiVersion".into(), json!("v1"));
        clean.insert("kind".into(), json!("Secret"));
        clean.insert("metadata".into(), Value::Object(metadata));
        for k in ["type", "immutable", "data"] {
            if let Some(v) = secret.get(k) {
                clean.insert(k.into(), v.clone());
            }
        }
        Ok(Self {
            namespace,
            name,
            secret: Value::Object(clean),
            key,
        })
    }

    /// The namespace it was backed up from.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key (and its certificate).
    pub fn key(&self) -> &SealingKey {
        &self.key
    }

    /// The public key's fingerprint (OpenSSH SHA256, as Sealed Secrets prints it).
    pub fn fingerprint(&self) -> String {
        self.key.public_key().ssh_fingerprint()
    }

    /// The certificate's validity, as Unix times (not before, not after).
    pub fn validity(&self) -> Option<(i64, i64)> {
        self.key.cert.as_ref().map(|c| (c.not_before, c.not_after))
    }

    /// True when its certificate has expired at `now` (false without a certificate).
    pub fn is_expired_at(&self, now: std::time::SystemTime) -> bool {
        self.key.cert.as_ref().is_some_and(|c| c.is_expired_at(now))
    }

    /// The Secret to create in `namespace`. Holds the private key: hand it straight to
    /// the API; it is wiped when dropped.
    pub fn secret_in(&self, namespace: &str) -> SecretDocument {
        let mut v = self.secret.clone();
        v["metadata"]["namespace"] = json!(namespace);
        SecretDocument(v)
    }
}

/// A Secret document holding key material, wiped from memory when dropped.
pub struct SecretDocument(Value);

impl SecretDocument {
    /// The document.
    pub fn value(&self) -> &Value {
        &self.0
    }
}

impl Drop for SecretDocument {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl fmt::Debug for SecretDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretDocument({}/{}, redacted)",
            self.0["metadata"]["namespace"].as_str().unwrap_or(""),
            self.0["metadata"]["name"].as_str().unwrap_or("")
        )
    }
}

fn field(field: &str, problem: &str) -> Error {
    Error::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

/// The key Secrets of a backup.
#[derive(Debug)]
pub struct Backup {
    keys: Vec<KeySecret>,
}

impl Backup {
    /// A backup of these key Secrets (documents or `kind: List`s of them). Every one must
    /// be a key Secret; two with the same namespace and name are refused.
    pub fn from_secrets(secrets: &[Value], source: &str) -> Result<Self> {
        let mut keys: Vec<KeySecret> = vec![];
        for s in docs::flatten_lists(secrets.to_vec()) {
            let k = KeySecret::from_secret(&s, source)?;
            if keys
                .iter()
                .any(|o| o.namespace == k.namespace && o.name == k.name)
            {
                return Err(Error::DuplicateKeySecret {
                    namespace: k.namespace.clone(),
                    name: k.name.clone(),
                }
                .within(source));
            }
            keys.push(k);
        }
        if keys.is_empty() {
            return Err(Error::NoPrivateKey.within(source));
        }
        Ok(Self { keys })
    }

    /// Reads a plain (decrypted) backup or any manifest of key Secrets.
    pub fn from_manifest(bytes: &[u8], source: &str) -> Result<Self> {
        if bytes.len() > MAX_BACKUP_BYTES {
            return Err(Error::TooLarge {
                limit: MAX_BACKUP_BYTES,
            }
            .within(source));
        }
        let mut docs = docs::parse_documents(bytes).map_err(|e| e.within(source))?;
        let backup = Self::from_secrets(&docs, source);
        docs.iter_mut().for_each(wipe);
        backup
    }

    /// The key Secrets, in the order they were given.
    pub fn keys(&self) -> &[KeySecret] {
        &self.keys
    }

    /// The keys, to open SealedSecrets with.
    pub fn sealing_keys(&self) -> Vec<SealingKey> {
        self.keys.iter().map(|k| k.key.clone()).collect()
    }

    /// The plain backup: a YAML `v1 List` of the key Secrets.
    pub fn to_manifest(&self) -> Zeroizing<String> {
        let mut list = json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": self.keys.iter().map(|k| k.secret.clone()).collect::<Vec<_>>(),
        });
        let text = Zeroizing::new(render::document(&list, Format::Yaml));
        wipe(&mut list);
        text
    }
}

/// A key Secret a cluster already has, as [`plan_restore`] needs to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingSecret {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The fingerprint of the key it holds; `None` when it holds no readable key (a
    /// Secret of another kind under that name).
    pub fingerprint: Option<String>,
}

impl ExistingSecret {
    /// From a Secret read from the cluster (its key material is not kept).
    pub fn from_secret(secret: &Value) -> Self {
        let meta = |k: &str| {
            secret
                .pointer(&format!("/metadata/{k}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let fingerprint = keys::key_from_secret(secret, "existing")
            .ok()
            .map(|k| k.public_key().ssh_fingerprint());
        Self {
            namespace: meta("namespace"),
            name: meta("name"),
            fingerprint,
        }
    }
}

/// What a restore does with one key Secret of a backup.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreAction {
    /// Create it.
    Create,
    /// The namespace already holds this key (in the Secret named here): nothing to do.
    AlreadyThere {
        /// The Secret that holds it.
        secret: String,
    },
    /// A Secret of that name exists and holds another key, or none: never overwritten.
    NameTaken,
}

/// One key Secret of a backup and what restoring it does.
#[derive(Debug)]
pub struct RestoreItem<'a> {
    /// The key Secret.
    pub key: &'a KeySecret,
    /// Where it goes.
    pub namespace: String,
    /// What happens.
    pub action: RestoreAction,
}

/// Decides what restoring `backup` into the namespaces it records (or all into
/// `namespace`) does, given the Secrets those namespaces already hold (`existing`: the
/// key Secrets, and any Secret named like a key Secret of the backup).
pub fn plan_restore<'a>(
    backup: &'a Backup,
    namespace: Option<&str>,
    existing: &[ExistingSecret],
) -> Vec<RestoreItem<'a>> {
    backup
        .keys
        .iter()
        .map(|k| {
            let ns = namespace.unwrap_or(&k.namespace).to_string();
            let fp = k.fingerprint();
            let here = existing.iter().filter(|e| e.namespace == ns);
            let action = match here
                .clone()
                .find(|e| e.fingerprint.as_deref() == Some(fp.as_str()))
            {
                Some(e) => RestoreAction::AlreadyThere {
                    secret: format!("{}/{}", e.namespace, e.name),
                },
                None if here.clone().any(|e| e.name == k.name) => RestoreAction::NameTaken,
                None => RestoreAction::Create,
            };
            RestoreItem {
                key: k,
                namespace: ns,
                action,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KEY_LABEL;
    use crate::test_keys::{key_a, CERT_A_PEM, KEY_B_PEM};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use ksec_crypto::x509::Certificate;

    fn key_secret(ns: &str, name: &str) -> Value {
        let key = SealingKey {
            key: key_a().clone(),
            cert: Some(Certificate::from_pem(CERT_A_PEM).unwrap()),
            source: "t".into(),
        };
        key_secret_of(&key, ns, name)
    }

    fn key_secret_of(key: &SealingKey, ns: &str, name: &str) -> Value {
        let mut v = key.to_secret_value(name, ns).unwrap();
        v["metadata"]["uid"] = json!("1234");
        v["metadata"]["resourceVersion"] = json!("99");
        v["metadata"]["annotations"] = json!({LAST_APPLIED: "{…tls.key…}", "team": "platform"});
        v
    }

    #[test]
    fn a_backup_is_a_list_of_clean_key_secrets() {
        let b = Backup::from_secrets(
            &[json!({"apiVersion": "v1", "kind": "List", "items": [key_secret("kube-system", "sealed-secrets-keyabcde")]})],
            "cluster",
        )
        .unwrap();
        let text = b.to_manifest();
        let back = Backup::from_manifest(text.as_bytes(), "backup").unwrap();
        assert_eq!(back.keys().len(), 1);
        let k = &back.keys()[0];
        assert_eq!(
            (k.namespace(), k.name()),
            ("kube-system", "sealed-secrets-keyabcde")
        );
        assert_eq!(k.fingerprint(), key_a().public_key().ssh_fingerprint());
        let doc = &docs::parse_documents(text.as_bytes()).unwrap()[0];
        assert_eq!(doc["kind"], "List");
        let s = &doc["items"][0];
        assert_eq!(s["type"], "kubernetes.io/tls");
        assert_eq!(s["metadata"]["labels"][KEY_LABEL], "active");
        assert_eq!(s["metadata"]["annotations"], json!({"team": "platform"}));
        assert!(
            s["metadata"].get("uid").is_none() && s["metadata"].get("resourceVersion").is_none()
        );
        // What kubeseal --recovery-private-key and ksec unseal read.
        let keys = keys::load_private_keys(text.as_bytes(), "backup").unwrap();
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn debug_output_and_errors_hold_no_key_material() {
        let b = Backup::from_secrets(&[key_secret("kube-system", "k1")], "x").unwrap();
        let key_b64 = key_secret("kube-system", "k1")["data"]["tls.key"]
            .as_str()
            .unwrap()
            .to_string();
        let debug = format!("{b:?} {:?}", b.keys()[0].secret_in("other"));
        assert!(debug.contains("k1") && debug.contains("SHA256:"), "{debug}");
        assert!(!debug.contains(&key_b64[..40]) && !debug.contains("PRIVATE"));
        let mut bad = key_secret("kube-system", "k1");
        bad["data"]["tls.key"] = json!(STANDARD
            .encode("-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n"));
        let e = Backup::from_secrets(&[bad], "keys.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("keys.yaml: Secret kube-system/k1: data.tls.key"),
            "{e}"
        );
        assert!(!e.contains("not a key"), "{e}");
    }

    #[test]
    fn bad_backups_are_named() {
        let e =
            Backup::from_secrets(&[key_secret("ns", "k"), key_secret("ns", "k")], "f").unwrap_err();
        assert_eq!(e.to_string(), "f: Secret ns/k appears twice");
        let mut no_ns = key_secret("ns", "k");
        no_ns["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("namespace");
        let e = Backup::from_secrets(&[no_ns], "f").unwrap_err().to_string();
        assert!(
            e.contains("f: Secret k: metadata.namespace: missing"),
            "{e}"
        );
        let mut no_cert = key_secret("ns", "k");
        no_cert["data"].as_object_mut().unwrap().remove("tls.crt");
        let e = Backup::from_secrets(&[no_cert], "f")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("f: Secret ns/k: the Secret has no data.tls.crt"),
            "{e}"
        );
        let e = Backup::from_manifest(b"kind: ConfigMap\nmetadata: {name: x}\n", "f").unwrap_err();
        assert!(e.to_string().contains("not a Secret"), "{e}");
        assert!(Backup::from_manifest(b"", "f").is_err());
        let big = vec![b' '; MAX_BACKUP_BYTES + 1];
        assert!(matches!(
            Backup::from_manifest(&big, "f").unwrap_err().innermost(),
            Error::TooLarge { .. }
        ));
    }

    #[test]
    fn restores_never_overwrite() {
        let second = SealingKey::generate(
            2048,
            "",
            std::time::SystemTime::now(),
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let b = Backup::from_secrets(
            &[
                key_secret("kube-system", "k1"),
                key_secret_of(&second, "team", "k2"),
            ],
            "x",
        )
        .unwrap();
        let fp = b.keys()[0].fingerprint();
        // Nothing there: everything is created where it was.
        let plan = plan_restore(&b, None, &[]);
        assert_eq!(
            plan.iter()
                .map(|i| (i.namespace.as_str(), &i.action))
                .collect::<Vec<_>>(),
            [
                ("kube-system", &RestoreAction::Create),
                ("team", &RestoreAction::Create)
            ]
        );
        // Into one namespace; the same key under another name is already there; a
        // Secret with another key holds the other name.
        let other = crate::keys::load_private_keys(KEY_B_PEM, "b")
            .unwrap()
            .remove(0);
        let existing = [
            ExistingSecret {
                namespace: "sealed".into(),
                name: "renamed".into(),
                fingerprint: Some(fp),
            },
            ExistingSecret {
                namespace: "sealed".into(),
                name: "k2".into(),
                fingerprint: Some(other.public_key().ssh_fingerprint()),
            },
            ExistingSecret {
                namespace: "kube-system".into(),
                name: "k2".into(),
                fingerprint: None,
            },
        ];
        let plan = plan_restore(&b, Some("sealed"), &existing);
        assert_eq!(
            plan[0].action,
            RestoreAction::AlreadyThere {
                secret: "sealed/renamed".into()
            }
        );
        assert_eq!(plan[1].action, RestoreAction::NameTaken);
        assert_eq!(
            plan[1].key.secret_in(&plan[1].namespace).value()["metadata"]["namespace"],
            "sealed"
        );
        let plan = plan_restore(&b, None, &existing);
        assert_eq!(plan[0].action, RestoreAction::Create);
        let e = ExistingSecret::from_secret(&key_secret("a", "b"));
        assert_eq!(e.fingerprint, Some(key_a().public_key().ssh_fingerprint()));
        assert_eq!(
            ExistingSecret::from_secret(
                &json!({"kind": "Secret", "metadata": {"name": "x", "namespace": "y"}})
            )
            .fingerprint,
            None
        );
    }

    proptest::proptest! {
        #[test]
        fn random_input_is_refused_without_panicking(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = Backup::from_manifest(&data, "random");
            let _ = is_encrypted(&data);
        }

        #[test]
        fn damaged_backups_are_refused(cut in 0usize..2000) {
            let text = Backup::from_secrets(&[key_secret("ns", "k")], "x").unwrap().to_manifest();
            let cut = cut.min(text.len());
            if let Ok(b) = Backup::from_manifest(&text.as_bytes()[..cut], "cut") {
                proptest::prop_assert_eq!(b.keys()[0].fingerprint(), key_a().public_key().ssh_fingerprint());
            }
        }
    }

    #[test]
    fn age_files_are_recognised() {
        assert!(is_encrypted(
            b"\n-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n"
        ));
        assert!(is_encrypted(b"age-encryption.org/v1\n-> X25519 abc\n"));
        assert!(!is_encrypted(b"apiVersion: v1\nkind: List\n"));
    }
}
