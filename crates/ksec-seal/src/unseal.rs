//! Opening SealedSecrets with private keys (`kubeseal --recovery-unseal`, `ksec unseal`,
//! and the controller), reporting which key opened each value.
use crate::sealed::SealedSecret;
use crate::{hybrid, template, Secret};
use ksec_crypto::rsa::RsaPrivateKey;
use std::collections::BTreeMap;

/// A SealedSecret opened.
#[derive(Debug)]
pub struct Unsealed {
    /// The Secret the controller would create (without owner references).
    pub secret: Secret,
    /// For each `encryptedData` key, the index (into the keys given) of the key that opened it.
    pub opened_by: BTreeMap<String, usize>,
}

/// Why a SealedSecret did not open. Names keys, never values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnsealError {
    /// One or more values failed: (key, reason) pairs.
    #[error("{}", group_by_reason(.0))]
    Values(Vec<(String, String)>),
    /// Legacy `spec.data` could not be used.
    #[error("spec.data (legacy whole-Secret format): {0}")]
    Legacy(String),
    /// No keys were given.
    #[error("no private keys to try")]
    NoKeys,
}

/// "a, b: reason; c: other reason": keys that failed the same way share one message.
fn group_by_reason(errors: &[(String, String)]) -> String {
    let mut groups: Vec<(Vec<&str>, &str)> = vec![];
    for (k, e) in errors {
        match groups.iter_mut().find(|(_, r)| *r == e.as_str()) {
            Some((keys, _)) => keys.push(k),
            None => groups.push((vec![k], e)),
        }
    }
    groups
        .iter()
        .map(|(keys, r)| format!("{}: {r}", keys.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Opens every value of `ss` with the first of `keys` that works (try the most likely
/// key first: the controller passes the key that opened this object last time).
pub fn unseal(ss: &SealedSecret, keys: &[&RsaPrivateKey]) -> Result<Unsealed, UnsealError> {
    if keys.is_empty() {
        return Err(UnsealError::NoKeys);
    }
    let label = ss.label();
    if ss.encrypted_data.is_empty() {
        if let Some(blob) = &ss.legacy_data {
            return unseal_legacy(ss, blob, keys, &label);
        }
    }
    let mut secret = Secret {
        metadata: ss.template.metadata.clone(),
        type_: ss.template.type_.clone(),
        immutable: ss.template.immutable,
        ..Default::default()
    };
    let mut opened_by = BTreeMap::new();
    let mut errors = vec![];
    // Values of one object were almost always sealed with the same key: once a key opens
    // a value, try it first for the next ones (a wrong key costs a full RSA decryption).
    let mut order: Vec<usize> = (0..keys.len()).collect();
    for (k, b64) in &ss.encrypted_data {
        let ordered: Vec<&RsaPrivateKey> = order.iter().map(|&i| keys[i]).collect();
        let opened = hybrid::from_base64(b64)
            .and_then(|bytes| hybrid::open_with_any(&ordered, &bytes, &label));
        match opened {
            Ok((plain, pos)) => {
                let idx = order.remove(pos);
                order.insert(0, idx);
                secret.data.insert(k.clone(), plain);
                opened_by.insert(k.clone(), idx);
            }
            Err(e) => errors.push((k.clone(), e.to_string())),
        }
    }
    if errors.is_empty() {
        // Templates see the decrypted values, not the result of other templates.
        let decrypted = secret.data.clone();
        for (k, tpl) in &ss.template.data {
            match tpl {
                None => {
                    secret.data.remove(k);
                }
                Some(t) => match template::render(t, &decrypted) {
                    Ok(v) => {
                        secret.data.insert(k.clone(), v);
                    }
                    Err(e) => errors.push((format!("spec.template.data.{k}"), e.to_string())),
                },
            }
        }
    }
    if !errors.is_empty() {
        return Err(UnsealError::Values(errors));
    }
    secret.metadata.set_name(ss.metadata.name());
    secret.metadata.set_namespace(ss.metadata.namespace());
    Ok(Unsealed { secret, opened_by })
}

fn unseal_legacy(
    ss: &SealedSecret,
    blob: &str,
    keys: &[&RsaPrivateKey],
    label: &[u8],
) -> Result<Unsealed, UnsealError> {
    let bytes = hybrid::from_base64(blob).map_err(|e| UnsealError::Legacy(e.to_string()))?;
    let (plain, idx) = hybrid::open_with_any(keys, &bytes, label)
        .map_err(|e| UnsealError::Legacy(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_slice(plain.expose())
        .map_err(|_| UnsealError::Legacy("the sealed blob is not a JSON Secret".into()))?;
    let mut secret = Secret::from_value(&v).map_err(|e| UnsealError::Legacy(e.to_string()))?;
    secret.metadata.set_name(ss.metadata.name());
    secret.metadata.set_namespace(ss.metadata.namespace());
    let opened_by = secret
        .merged_data()
        .keys()
        .map(|k| (k.clone(), idx))
        .collect();
    Ok(Unsealed { secret, opened_by })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_keys::{key_a, key_b};
    use crate::{seal, SealOptions};
    use serde_json::json;

    fn sealed() -> SealedSecret {
        let s = Secret::from_value(
            &json!({"kind": "Secret", "metadata": {"name": "n", "namespace": "ns"},
                                           "stringData": {"a": "1", "b": "2"}}),
        )
        .unwrap();
        seal::seal(s, key_b().public_key(), &SealOptions::default()).unwrap()
    }

    #[test]
    fn reports_the_key_that_opened_each_value() {
        let out = unseal(&sealed(), &[key_a(), key_b()]).unwrap();
        assert_eq!(
            out.opened_by.values().copied().collect::<Vec<_>>(),
            vec![1, 1]
        );
        assert_eq!(out.secret.metadata.name(), "n");
    }

    #[test]
    fn the_key_that_opened_a_value_is_tried_first_for_the_next() {
        // Sealed with B, keys given as [A, B]: indices still refer to the slice given.
        let out = unseal(&sealed(), &[key_a(), key_b()]).unwrap();
        assert!(out.opened_by.values().all(|i| *i == 1));
        let mut mixed = sealed();
        let a_value = hybrid::seal(key_a().public_key(), b"x", b"ns/n").unwrap();
        mixed
            .encrypted_data
            .insert("c".into(), hybrid::to_base64(&a_value));
        let out = unseal(&mixed, &[key_a(), key_b()]).unwrap();
        assert_eq!(out.opened_by["a"], 1);
        assert_eq!(out.opened_by["c"], 0);
        assert_eq!(out.secret.data["c"].expose(), b"x");
    }

    #[test]
    fn names_the_keys_that_failed() {
        let mut ss = sealed();
        ss.encrypted_data.insert("broken".into(), "!!!".into());
        let mut truncated = hybrid::from_base64(&ss.encrypted_data["a"]).unwrap();
        truncated.truncate(100);
        ss.encrypted_data
            .insert("a".into(), hybrid::to_base64(&truncated));
        let e = unseal(&ss, &[key_b()]).unwrap_err().to_string();
        assert!(e.contains("broken: not valid base64"), "{e}");
        assert!(e.contains("a: sealed value is truncated"), "{e}");
        assert!(!e.contains("b:"), "{e}");
        let e = unseal(&sealed(), &[key_a()]).unwrap_err().to_string();
        assert!(e.contains("no key could decrypt"), "{e}");
    }

    #[test]
    fn template_data_renders_and_null_removes() {
        let mut ss = sealed();
        ss.template.data.insert(
            "url".into(),
            Some("postgres://{{ index . \"a\" }}:{{ .b }}@db".into()),
        );
        ss.template.data.insert("b".into(), None);
        let out = unseal(&ss, &[key_b()]).unwrap();
        assert_eq!(out.secret.data["url"].expose(), b"postgres://1:2@db");
        assert!(!out.secret.data.contains_key("b"));
    }

    #[test]
    fn legacy_whole_secret_blob_opens() {
        let inner = serde_json::to_vec(
            &json!({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "x"},
                                               "data": {"k": "dg=="}}),
        )
        .unwrap();
        let blob = hybrid::seal(key_a().public_key(), &inner, b"ns/n").unwrap();
        let mut ss = SealedSecret::default();
        ss.metadata.set_name("n");
        ss.metadata.set_namespace("ns");
        ss.legacy_data = Some(hybrid::to_base64(&blob));
        let out = unseal(&ss, &[key_a()]).unwrap();
        assert_eq!(out.secret.data["k"].expose(), b"v");
        assert_eq!(out.secret.metadata.name(), "n");
    }
}
