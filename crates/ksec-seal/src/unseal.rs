//! Opening SealedSecrets with private keys (`kubeseal --recovery-unseal`, `ksec unseal`,
//! and the controller), reporting which key opened each value.
use crate::error::{Error, Result};
use crate::render::{self, Format};
use crate::sealed::SealedSecret;
use crate::{hybrid, template, Secret};
use ksec_crypto::rsa::RsaPrivateKey;
use ksec_crypto::SecretBytes;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// A SealedSecret opened.
#[derive(Debug)]
pub struct Unsealed {
    /// The Secret the controller would create (without owner references).
    pub secret: Secret,
    /// For each `encryptedData` key, the index (into the keys given) of the key that opened it.
    pub opened_by: BTreeMap<String, usize>,
}

/// Opens sealed values with the first of some keys that works. Values of one object
/// were almost always sealed with the same key: once a key opens a value, it is tried
/// first for the next ones (a wrong key costs a full RSA decryption).
pub(crate) struct KeyPreference<'k> {
    keys: &'k [&'k RsaPrivateKey],
    order: Vec<usize>,
}

impl<'k> KeyPreference<'k> {
    pub(crate) fn new(keys: &'k [&'k RsaPrivateKey]) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::NoKeys);
        }
        Ok(Self {
            keys,
            order: (0..keys.len()).collect(),
        })
    }

    /// Opens the base64 sealed value `b64` under `label`: the plaintext and the index
    /// (into the keys given) of the key that opened it.
    pub(crate) fn open(&mut self, b64: &str, label: &[u8]) -> Result<(SecretBytes, usize)> {
        let ordered: Vec<&RsaPrivateKey> = self.order.iter().map(|&i| self.keys[i]).collect();
        let bytes = hybrid::from_base64(b64)?;
        let (plain, pos) = hybrid::open_with_any(&ordered, &bytes, label)?;
        let idx = self.order.remove(pos);
        self.order.insert(0, idx);
        Ok((plain, idx))
    }
}

/// Opens every SealedSecret of `sealed` (read from `origin`) with `keys` and renders the
/// Secrets in `format`, one document each (kubeseal's `--recovery-unseal`). Stops at the
/// first that does not open; the error names `origin` and the object. The text holds the
/// plaintext and is wiped when dropped.
pub fn unseal_all(
    sealed: &[SealedSecret],
    origin: &str,
    keys: &[&RsaPrivateKey],
    format: Format,
) -> Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::new());
    for ss in sealed {
        let opened = unseal(ss, keys).map_err(|e| {
            e.within(format!(
                "{origin}: SealedSecret {}/{}",
                ss.metadata.namespace(),
                ss.metadata.name()
            ))
        })?;
        out.push_str(&render::document(&opened.secret.to_value(), format));
    }
    Ok(out)
}

/// Opens every value of `ss` with the first of `keys` that works (try the most likely
/// key first: the controller passes the key that opened this object last time), then
/// renders `spec.template.data`.
pub fn unseal(ss: &SealedSecret, keys: &[&RsaPrivateKey]) -> Result<Unsealed> {
    let mut preference = KeyPreference::new(keys)?;
    let label = ss.label();
    if ss.encrypted_data.is_empty() {
        if let Some(blob) = &ss.legacy_data {
            return unseal_legacy(ss, blob, &mut preference, &label)
                .map_err(|e| e.within("spec.data (legacy whole-Secret format)"));
        }
    }
    let mut secret = Secret {
        metadata: ss.template.metadata.clone(),
        type_: ss.template.type_.clone(),
        immutable: ss.template.immutable,
        ..Default::default()
    };
    let mut opened_by = BTreeMap::new();
    let mut failures = vec![];
    for (k, b64) in &ss.encrypted_data {
        match preference.open(b64, &label) {
            Ok((plain, idx)) => {
                secret.data.insert(k.clone(), plain);
                opened_by.insert(k.clone(), idx);
            }
            Err(e) => failures.push((k.clone(), e)),
        }
    }
    if failures.is_empty() {
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
                    Err(e) => failures.push((format!("spec.template.data.{k}"), e)),
                },
            }
        }
    }
    if !failures.is_empty() {
        return Err(Error::Values { failures });
    }
    secret.metadata.set_name(ss.metadata.name());
    secret.metadata.set_namespace(ss.metadata.namespace());
    Ok(Unsealed { secret, opened_by })
}

fn unseal_legacy(
    ss: &SealedSecret,
    blob: &str,
    preference: &mut KeyPreference<'_>,
    label: &[u8],
) -> Result<Unsealed> {
    let (plain, idx) = preference.open(blob, label)?;
    let v: serde_json::Value =
        serde_json::from_slice(plain.expose()).map_err(|_| Error::LegacyNotASecret)?;
    let mut secret = Secret::from_value(&v)?;
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
    use crate::Sealer;
    use serde_json::json;

    fn sealed() -> SealedSecret {
        let s = Secret::from_value(
            &json!({"kind": "Secret", "metadata": {"name": "n", "namespace": "ns"},
                                           "stringData": {"a": "1", "b": "2"}}),
        )
        .unwrap();
        Sealer::new(key_b().public_key().clone()).seal(s).unwrap()
    }

    #[test]
    fn a_manifest_opens_whole_or_names_the_object_that_does_not() {
        let both = [sealed(), sealed()];
        let text = unseal_all(&both, "in.yaml", &[key_b()], Format::Yaml).unwrap();
        assert_eq!(text.matches("kind: Secret").count(), 2, "{}", *text);
        let e = unseal_all(&both, "in.yaml", &[key_a()], Format::Json).unwrap_err();
        assert!(
            e.to_string().starts_with("in.yaml: SealedSecret ns/n: "),
            "{e}"
        );
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
        let ss = crate::test_keys::legacy_sealed_secret();
        let out = unseal(&ss, &[key_a()]).unwrap();
        assert_eq!(out.secret.data["k"].expose(), b"v");
        assert_eq!(out.secret.metadata.name(), "n");
    }
}
