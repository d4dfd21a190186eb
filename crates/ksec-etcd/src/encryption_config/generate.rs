//! Writing a correct EncryptionConfiguration with fresh keys.
use super::{API_VERSION, KIND};
use crate::Error;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// What `ksec encryption-config generate` writes.
#[derive(Clone, Debug)]
pub struct GenerateSpec {
    /// `kms`, `aescbc`, `aesgcm`, `secretbox` or `identity`.
    pub provider: String,
    /// Resources to encrypt.
    pub resources: Vec<String>,
    /// KMS provider name.
    pub kms_name: String,
    /// KMS endpoint (`unix:///…`).
    pub kms_endpoint: String,
    /// KMS timeout (Go duration).
    pub kms_timeout: String,
    /// Keep `identity` as the last provider so data written before encryption stays readable.
    pub identity_fallback: bool,
}

/// Writes a configuration (YAML) with a fresh 32-byte key where the provider needs one.
/// The text holds key material: write it with mode 0600.
pub fn generate(spec: &GenerateSpec) -> Result<zeroize::Zeroizing<String>, Error> {
    let mut out = zeroize::Zeroizing::new(String::new());
    out.push_str(&format!(
        "apiVersion: {API_VERSION}\nkind: {KIND}\nresources:\n  - resources:\n"
    ));
    for r in &spec.resources {
        out.push_str(&format!("      - {r}\n"));
    }
    out.push_str("    providers:\n");
    match spec.provider.as_str() {
        "kms" => out.push_str(&format!(
            "      - kms:\n          apiVersion: v2\n          name: {}\n          endpoint: {}\n          timeout: {}\n",
            spec.kms_name, spec.kms_endpoint, spec.kms_timeout
        )),
        p @ ("aescbc" | "aesgcm" | "secretbox") => {
            let key = ksec_crypto::rand::secret(32)?;
            let b64 = zeroize::Zeroizing::new(STANDARD.encode(key.expose()));
            out.push_str(&format!("      - {p}:\n          keys:\n            - name: key1\n              secret: {}\n", *b64));
        }
        "identity" => {}
        other => {
            return Err(Error::UnknownProvider {
                provider: other.to_string(),
            })
        }
    }
    if spec.identity_fallback || spec.provider == "identity" {
        out.push_str("      - identity: {}\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encryption_config::{check, CheckOptions, Severity};

    #[test]
    fn generated_configurations_are_valid() {
        for p in ["kms", "aescbc", "aesgcm", "secretbox", "identity"] {
            let spec = GenerateSpec {
                provider: p.into(),
                resources: vec!["secrets".into(), "configmaps".into()],
                kms_name: "ksec".into(),
                kms_endpoint: "unix:///var/run/ksec/kms.sock".into(),
                kms_timeout: "3s".into(),
                identity_fallback: true,
            };
            let text = generate(&spec).unwrap();
            let errs: Vec<_> = check(text.as_bytes(), CheckOptions::default())
                .into_iter()
                .filter(|f| f.severity == Severity::Error)
                .collect();
            assert!(errs.is_empty(), "{p}: {errs:?}\n{}", *text);
        }
        let a = generate(&GenerateSpec {
            provider: "secretbox".into(),
            resources: vec!["secrets".into()],
            kms_name: String::new(),
            kms_endpoint: String::new(),
            kms_timeout: String::new(),
            identity_fallback: false,
        })
        .unwrap();
        let b = generate(&GenerateSpec {
            provider: "secretbox".into(),
            resources: vec!["secrets".into()],
            kms_name: String::new(),
            kms_endpoint: String::new(),
            kms_timeout: String::new(),
            identity_fallback: false,
        })
        .unwrap();
        assert_ne!(*a, *b, "every generated key is fresh");
    }

    #[test]
    fn unknown_providers_are_refused() {
        let e = generate(&GenerateSpec {
            provider: "rot13".into(),
            resources: vec!["secrets".into()],
            kms_name: String::new(),
            kms_endpoint: String::new(),
            kms_timeout: String::new(),
            identity_fallback: false,
        })
        .unwrap_err();
        assert!(matches!(e, Error::UnknownProvider { .. }), "{e}");
    }
}
