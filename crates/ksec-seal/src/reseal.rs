//! Re-sealing: moving a SealedSecret to a new sealing key without changing what it
//! holds (`ksec reseal` offline, the controller's `/v1/rotate`, `kubeseal --re-encrypt`).
//!
//! Each sealed value is opened and sealed again under the same label, so the scope,
//! the names and `spec.template` (with its `template.data` Go templates) stay byte for
//! byte; only the ciphertexts change. Bitnami's controller instead re-seals the
//! rendered Secret, which flattens templates into values.
use crate::docs;
use crate::error::{Error, Result};
use crate::hybrid;
use crate::render::{self, Format};
use crate::sealed::{SealedSecret, KIND};
use crate::unseal::KeyPreference;
use ksec_crypto::rsa::{RsaPrivateKey, RsaPublicKey};

/// Re-seals every `spec.encryptedData` value of `sealed`, and the legacy `spec.data`
/// blob, for `public`. `keys` must open the current values (the key that opened one
/// value is tried first for the next). Errors name the value that failed; nothing is
/// half done, since the result is a new SealedSecret.
pub fn reseal(
    sealed: &SealedSecret,
    keys: &[&RsaPrivateKey],
    public: &RsaPublicKey,
) -> Result<SealedSecret> {
    let mut preference = KeyPreference::new(keys)?;
    let label = sealed.label();
    let mut reseal_one = |b64: &str, field: &str| -> Result<String> {
        let (plain, _) = preference.open(b64, &label).map_err(|e| e.within(field))?;
        let value = hybrid::seal(public, plain.expose(), &label).map_err(|e| e.within(field))?;
        Ok(hybrid::to_base64(&value))
    };
    let mut out = sealed.clone();
    for (k, v) in out.encrypted_data.iter_mut() {
        *v = reseal_one(v, &format!("spec.encryptedData.{k}"))?;
    }
    if let Some(blob) = out.legacy_data.as_mut() {
        *blob = reseal_one(blob, "spec.data")?;
    }
    Ok(out)
}

/// A manifest whose SealedSecrets were re-sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResealedManifest {
    /// The new text, in the input's format (JSON or YAML), in kubeseal's layout.
    pub text: String,
    /// How many sealed values were re-sealed.
    pub values: usize,
}

/// Re-seals every SealedSecret of a manifest file with [`reseal`]. `None` when the
/// input holds no SealedSecret (or is not YAML/JSON at all): such files are left alone.
/// A file that mixes SealedSecrets with other resources is refused rather than
/// reformatted. `origin` names the input in errors.
pub fn reseal_manifest(
    input: &[u8],
    origin: &str,
    keys: &[&RsaPrivateKey],
    public: &RsaPublicKey,
) -> Result<Option<ResealedManifest>> {
    let Ok(parsed) = docs::parse_documents(input) else {
        return Ok(None);
    };
    let is_sealed = |d: &serde_json::Value| d.get("kind").and_then(|k| k.as_str()) == Some(KIND);
    if !parsed.iter().any(is_sealed) {
        return Ok(None);
    }
    if !parsed.iter().all(is_sealed) {
        return Err(Error::MixedKinds.within(origin));
    }
    let format = Format::of(input);
    let mut text = String::new();
    let mut values = 0;
    for (i, d) in parsed.iter().enumerate() {
        let ss = SealedSecret::from_value(d)
            .map_err(|e| docs::in_document(e, origin, i, parsed.len()))?;
        let object = format!(
            "{origin}: SealedSecret {}/{}",
            ss.metadata.namespace(),
            ss.metadata.name()
        );
        let resealed = reseal(&ss, keys, public).map_err(|e| e.within(object))?;
        values += resealed.sealed_value_count();
        text.push_str(&render::document(&resealed.to_value(), format));
    }
    Ok(Some(ResealedManifest { text, values }))
}

/// How re-sealing one file of [`reseal_files`] came out.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileReseal {
    /// Re-sealed, and handed to the writer: how many values.
    Resealed {
        /// Sealed values re-sealed.
        values: usize,
    },
    /// Holds no SealedSecret: left alone.
    Skipped,
    /// Could not be read, re-sealed or written; left unchanged.
    Failed(Error),
}

/// What [`reseal_files`] did, counted by file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResealSummary {
    /// Files re-sealed.
    pub resealed: usize,
    /// Files without SealedSecrets, left alone.
    pub skipped: usize,
    /// Files that failed, left unchanged.
    pub failed: usize,
}

/// The writer [`reseal_files`] hands each re-sealed file's new text to.
pub type WriteResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Re-seals the SealedSecrets of every file of `files` ([`reseal_manifest`]) for
/// `public`, opening them with `keys`. Each re-sealed file's new text goes to `write`
/// (which writes it in place, atomically; a dry run passes one that writes nothing);
/// `observe` hears how each file came out, in order. A file that fails is left to its
/// caller to report and does not stop the others.
pub fn reseal_files(
    files: &[std::path::PathBuf],
    keys: &[&RsaPrivateKey],
    public: &RsaPublicKey,
    mut write: impl FnMut(&std::path::Path, &str) -> WriteResult,
    mut observe: impl FnMut(&std::path::Path, &FileReseal),
) -> ResealSummary {
    let mut summary = ResealSummary::default();
    for f in files {
        let outcome = match reseal_one(f, keys, public, &mut write) {
            Ok(Some(values)) => {
                summary.resealed += 1;
                FileReseal::Resealed { values }
            }
            Ok(None) => {
                summary.skipped += 1;
                FileReseal::Skipped
            }
            Err(e) => {
                summary.failed += 1;
                FileReseal::Failed(e)
            }
        };
        observe(f, &outcome);
    }
    summary
}

fn reseal_one(
    f: &std::path::Path,
    keys: &[&RsaPrivateKey],
    public: &RsaPublicKey,
    write: &mut impl FnMut(&std::path::Path, &str) -> WriteResult,
) -> Result<Option<usize>> {
    let bytes = crate::files::read_file(f)?;
    let Some(resealed) = reseal_manifest(&bytes, &f.display().to_string(), keys, public)? else {
        return Ok(None);
    };
    write(f, &resealed.text).map_err(|e| Error::WriteFile(crate::Cause::from_boxed(e)))?;
    Ok(Some(resealed.values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_keys::{key_a, key_b};
    use crate::{unseal, Sealer, Secret};
    use serde_json::json;

    fn sealed_with_template() -> SealedSecret {
        let s = Secret::from_value(&json!({"kind": "Secret",
            "metadata": {"name": "db", "namespace": "prod", "labels": {"app": "shop"}},
            "stringData": {"user": "admin", "pass": "hunter2"}}))
        .unwrap();
        let mut ss = Sealer::new(key_a().public_key().clone()).seal(s).unwrap();
        ss.template
            .data
            .insert("url".into(), Some("pg://{{ .user }}:{{ .pass }}@db".into()));
        ss
    }

    #[test]
    fn every_value_moves_to_the_new_key_and_the_template_stays() {
        let ss = sealed_with_template();
        let moved = reseal(&ss, &[key_b(), key_a()], key_b().public_key()).unwrap();
        assert_eq!(moved.template, ss.template);
        assert_eq!(moved.metadata, ss.metadata);
        for k in ["user", "pass"] {
            assert_ne!(moved.encrypted_data[k], ss.encrypted_data[k], "{k}");
        }
        assert!(unseal(&moved, &[key_a()]).is_err());
        let opened = unseal(&moved, &[key_b()]).unwrap();
        assert_eq!(opened.secret.data["url"].expose(), b"pg://admin:hunter2@db");
        assert_eq!(moved.sealed_value_count(), 2);
    }

    #[test]
    fn the_legacy_blob_moves_too() {
        let ss = crate::test_keys::legacy_sealed_secret();
        let moved = reseal(&ss, &[key_a()], key_b().public_key()).unwrap();
        assert_ne!(moved.legacy_data, ss.legacy_data);
        assert_eq!(moved.sealed_value_count(), 1);
        let opened = unseal(&moved, &[key_b()]).unwrap();
        assert_eq!(opened.secret.data["k"].expose(), b"v");
    }

    #[test]
    fn failures_name_the_value_and_keys_are_needed() {
        let ss = sealed_with_template();
        let e = reseal(&ss, &[key_b()], key_b().public_key()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.encryptedData.pass: no key could decrypt"),
            "{e}"
        );
        assert_eq!(
            reseal(&ss, &[], key_b().public_key()).unwrap_err(),
            Error::NoKeys
        );
        let legacy = SealedSecret {
            legacy_data: Some("!!".into()),
            ..Default::default()
        };
        let e = reseal(&legacy, &[key_a()], key_b().public_key()).unwrap_err();
        assert!(
            e.to_string().starts_with("spec.data: not valid base64"),
            "{e}"
        );
    }

    #[test]
    fn manifests_keep_their_format_and_other_files_are_left_alone() {
        let ss = sealed_with_template();
        let json_text = render::document(&ss.to_value(), Format::Json);
        let out = reseal_manifest(
            json_text.as_bytes(),
            "s.json",
            &[key_a()],
            key_b().public_key(),
        )
        .unwrap()
        .unwrap();
        assert!(
            out.text.starts_with("{\n  \"kind\": \"SealedSecret\""),
            "{}",
            out.text
        );
        assert_eq!(out.values, 2);
        let yaml = format!(
            "{}{}",
            render::document(&ss.to_value(), Format::Yaml),
            render::document(&ss.to_value(), Format::Yaml)
        );
        let out = reseal_manifest(yaml.as_bytes(), "s.yaml", &[key_a()], key_b().public_key())
            .unwrap()
            .unwrap();
        assert_eq!(out.values, 4);
        assert_eq!(
            docs::read_sealed_secrets(out.text.as_bytes(), "x")
                .unwrap()
                .len(),
            2
        );
        for other in ["kind: ConfigMap\n", "not: [yaml\n", ""] {
            assert_eq!(
                reseal_manifest(other.as_bytes(), "o.yaml", &[key_a()], key_b().public_key()),
                Ok(None),
                "{other}"
            );
        }
        let mixed = format!("{yaml}---\nkind: ConfigMap\n");
        let e = reseal_manifest(mixed.as_bytes(), "m.yaml", &[key_a()], key_b().public_key())
            .unwrap_err();
        assert!(
            e.to_string().starts_with("m.yaml: mixes SealedSecrets"),
            "{e}"
        );
        let e = reseal_manifest(
            json_text.as_bytes(),
            "s.json",
            &[key_b()],
            key_b().public_key(),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "s.json: SealedSecret prod/db: spec.encryptedData.pass: no key could decrypt"
            ),
            "{e}"
        );
    }
}
