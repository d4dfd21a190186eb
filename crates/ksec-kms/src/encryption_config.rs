//! kube-apiserver's `EncryptionConfiguration` (`apiserver.config.k8s.io/v1`): a model,
//! a validator that applies the rules kube-apiserver applies at start-up (and a few
//! warnings about choices that are legal but risky), and a generator.
//!
//! Validation follows k8s.io/apiserver `validation_encryption.go`: at least one
//! resource entry, each with resources and providers; one provider kind per list
//! element; AES keys of 16/24/32 bytes and secretbox keys of 32, base64-encoded, each
//! named; KMS providers with a name (no `:` for v2), unique names (v2), a positive
//! timeout, a `unix://` endpoint, `apiVersion` v1 or v2, `cachesize` only for v1 and
//! never 0; resource names lower-case, not `*`, not `*.events.k8s.io`, not
//! `extensions`, not `X.*`, not the non-REST resources, no duplicates or overlaps.
//! Defaults as the apiserver's: `apiVersion: v1`, `timeout: 3s`, `cachesize: 1000` (v1).
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// `apiVersion` and `kind` of the document.
pub const API_VERSION: &str = "apiserver.config.k8s.io/v1";
/// The document kind.
pub const KIND: &str = "EncryptionConfiguration";

/// The document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptionConfiguration {
    /// `apiserver.config.k8s.io/v1`.
    pub api_version: String,
    /// `EncryptionConfiguration`.
    pub kind: String,
    /// Which resources are encrypted with which providers.
    #[serde(default)]
    pub resources: Vec<ResourceConfiguration>,
}

/// One entry of `resources`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfiguration {
    /// Resource names (`secrets`, `configmaps`, `*.apps`, `*.*`).
    #[serde(default)]
    pub resources: Vec<String>,
    /// Providers, the first encrypts, all decrypt.
    #[serde(default)]
    pub providers: Vec<Provider>,
}

/// One provider element: exactly one of the fields must be set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Plaintext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Empty>,
    /// AES-GCM with local keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aesgcm: Option<Keys>,
    /// AES-CBC with local keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aescbc: Option<Keys>,
    /// XSalsa20-Poly1305 with local keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secretbox: Option<Keys>,
    /// A KMS plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<Kms>,
}

/// `identity: {}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// `keys:` of the local-key providers.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// The keys; the first encrypts.
    #[serde(default)]
    pub keys: Vec<Key>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| &k.name))
            .finish()
    }
}

/// A named key (`secret` is base64).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// Key name (stored in each value's prefix).
    #[serde(default)]
    pub name: String,
    /// Base64 key bytes.
    #[serde(default)]
    pub secret: String,
}

/// `kms:` provider settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kms {
    /// `v1` (deprecated) or `v2`; default v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Provider name (part of the stored values' prefix).
    #[serde(default)]
    pub name: String,
    /// `unix:///path/to/socket`.
    #[serde(default)]
    pub endpoint: String,
    /// v1 only: DEK cache size.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "cachesize")]
    pub cache_size: Option<i64>,
    /// Go duration (`3s`); default 3s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// One finding: the field path as kube-apiserver prints it and the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// `resources[0].providers[1].kms.endpoint`.
    pub field: String,
    /// What is wrong (for errors) or risky (for warnings), and what to do.
    pub message: String,
}

/// The result of [`check`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// What kube-apiserver would refuse to start with.
    pub errors: Vec<Finding>,
    /// Legal but risky choices.
    pub warnings: Vec<Finding>,
}

/// Parses the YAML/JSON text. Unknown fields are errors here, although
/// kube-apiserver ignores them: an unknown field is almost always a typo that
/// silently leaves data unencrypted.
pub fn parse(text: &str) -> Result<EncryptionConfiguration, String> {
    serde_norway::from_str(text).map_err(|e| e.to_string())
}

/// Parses a Go duration (`3s`, `1m30s`, `500ms`, `1.5h`).
pub fn parse_go_duration(s: &str) -> Option<std::time::Duration> {
    let mut rest = s.trim();
    let neg = rest.starts_with('-');
    rest = rest.trim_start_matches(['-', '+']);
    if rest == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[u..];
        total += num * unit;
    }
    if neg {
        return Some(std::time::Duration::ZERO);
    }
    Some(std::time::Duration::from_secs_f64(total))
}

fn group_resource(s: &str) -> (&str, &str) {
    match s.split_once('.') {
        Some((r, g)) => (g, r),
        None => ("", s),
    }
}

/// Validates a parsed configuration as kube-apiserver does, plus warnings.
pub fn check(c: &EncryptionConfiguration) -> Report {
    let mut rep = Report::default();
    let err = |rep: &mut Report, field: String, message: String| {
        rep.errors.push(Finding { field, message })
    };
    let warn = |rep: &mut Report, field: String, message: String| {
        rep.warnings.push(Finding { field, message })
    };
    if c.api_version != API_VERSION {
        err(
            &mut rep,
            "apiVersion".into(),
            format!("must be {API_VERSION}, not {:?}", c.api_version),
        );
    }
    if c.kind != KIND {
        err(
            &mut rep,
            "kind".into(),
            format!("must be {KIND}, not {:?}", c.kind),
        );
    }
    if c.resources.is_empty() {
        err(
            &mut rep,
            "resources".into(),
            "at least one resources entry is required".into(),
        );
    }
    let mut kms_names: HashSet<String> = HashSet::new();
    let mut secrets_covered = false;
    for (i, rc) in c.resources.iter().enumerate() {
        let r = format!("resources[{i}].resources");
        let p = format!("resources[{i}].providers");
        if rc.resources.is_empty() {
            err(
                &mut rep,
                r.clone(),
                "at least one resource is required".into(),
            );
        }
        check_resources(&rc.resources, &r, &mut rep);
        if rc
            .resources
            .iter()
            .any(|x| x == "secrets" || x == "*." || x == "*.*")
        {
            secrets_covered = true;
        }
        if rc.providers.is_empty() {
            err(
                &mut rep,
                p.clone(),
                "at least one provider is required".into(),
            );
        }
        for (j, pr) in rc.providers.iter().enumerate() {
            let path = format!("{p}[{j}]");
            let kinds = [
                pr.identity.is_some(),
                pr.aesgcm.is_some(),
                pr.aescbc.is_some(),
                pr.secretbox.is_some(),
                pr.kms.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if kinds == 0 {
                err(&mut rep, path.clone(), "provider does not contain any of the expected providers: kms, aesgcm, aescbc, secretbox, identity".into());
            } else if kinds > 1 {
                err(&mut rep, path.clone(), "more than one provider specified in a single element, should split into different list elements".into());
            }
            if let Some(k) = &pr.aesgcm {
                check_keys(
                    &k.keys,
                    &format!("{path}.aesgcm.keys"),
                    &[16, 24, 32],
                    &mut rep,
                );
                warn(&mut rep, format!("{path}.aesgcm"), "aesgcm with a static key is only safe if the key is rotated before about 2^32 writes; prefer kms v2".into());
            }
            if let Some(k) = &pr.aescbc {
                check_keys(
                    &k.keys,
                    &format!("{path}.aescbc.keys"),
                    &[16, 24, 32],
                    &mut rep,
                );
                warn(&mut rep, format!("{path}.aescbc"), "aescbc is not recommended (no authentication, padding oracle risk); prefer kms v2 or secretbox".into());
            }
            if let Some(k) = &pr.secretbox {
                check_keys(&k.keys, &format!("{path}.secretbox.keys"), &[32], &mut rep);
            }
            if let Some(k) = &pr.kms {
                check_kms(k, &format!("{path}.kms"), &mut kms_names, &mut rep);
            }
            if j == 0 && pr.identity.is_some() && kinds == 1 {
                warn(
                    &mut rep,
                    path.clone(),
                    format!(
                        "identity is the first provider: new writes of {} are stored in plaintext",
                        rc.resources.join(", ")
                    ),
                );
            }
        }
    }
    if !c.resources.is_empty() && !secrets_covered {
        warn(
            &mut rep,
            "resources".into(),
            "no entry covers secrets: Secrets stay in plaintext in etcd".into(),
        );
    }
    rep
}

fn check_resources(res: &[String], path: &str, rep: &mut Report) {
    for (j, x) in res.iter().enumerate() {
        let f = format!("{path}[{j}]");
        let e = |m: &str| Finding {
            field: f.clone(),
            message: format!("{x:?}: {m}"),
        };
        let (g, r) = group_resource(x);
        if x.to_lowercase() != *x {
            rep.errors
                .push(e("resource name should not contain capital letters"));
        } else if x == "*" {
            rep.errors.push(e("use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources"));
        } else if [
            "apiserveripinfo",
            "serviceipallocations",
            "servicenodeportallocations",
        ]
        .contains(&x.as_str())
        {
            rep.errors.push(e(
                "resources which do not have REST API/s cannot be encrypted",
            ));
        } else if g == "events.k8s.io" {
            rep.errors.push(e("'*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file"));
        } else if g == "extensions" {
            rep.errors.push(e(
                "'extensions' group has been removed and cannot be used for encryption",
            ));
        } else if g == "*" && r != "*" {
            rep.errors.push(e(
                "encrypting the same resource across groups is not supported",
            ));
        }
    }
    let parsed: Vec<(&str, &str)> = res.iter().map(|x| group_resource(x)).collect();
    let mut dup = false;
    let mut overlap = false;
    for (i, a) in parsed.iter().enumerate() {
        for (j, b) in parsed.iter().enumerate() {
            if i == j {
                continue;
            }
            if a == b {
                dup = true;
                continue;
            }
            if *a == ("*", "*") || (a.0 == b.0 && (a.1 == "*" || b.1 == "*")) {
                overlap = true;
            }
        }
    }
    if dup {
        rep.errors.push(Finding {
            field: path.into(),
            message: "the same resource cannot be specified multiple times".into(),
        });
    }
    if overlap {
        rep.errors.push(Finding {
            field: path.into(),
            message: "using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked".into(),
        });
    }
}

fn check_keys(keys: &[Key], path: &str, sizes: &[usize], rep: &mut Report) {
    if keys.is_empty() {
        rep.errors.push(Finding {
            field: path.into(),
            message: "at least one key is required".into(),
        });
        return;
    }
    let mut names = HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        let f = format!("{path}[{i}]");
        if k.name.is_empty() {
            rep.errors.push(Finding {
                field: format!("{f}.name"),
                message: "name is a mandatory field for a key".into(),
            });
        } else if !names.insert(k.name.clone()) {
            rep.warnings.push(Finding {
                field: format!("{f}.name"),
                message: format!("duplicate key name {:?}: values name the key that encrypted them, so only the first of the two can ever decrypt", k.name),
            });
        }
        if k.secret.is_empty() {
            rep.errors.push(Finding {
                field: format!("{f}.secret"),
                message: "secret is a mandatory field for a key".into(),
            });
            continue;
        }
        // Never echo the secret, not even when it is malformed.
        match base64::engine::general_purpose::STANDARD.decode(&k.secret) {
            Err(_) => rep.errors.push(Finding { field: format!("{f}.secret"), message: "secrets must be base64 encoded (value redacted)".into() }),
            Ok(b) if !sizes.contains(&b.len()) => rep.errors.push(Finding {
                field: format!("{f}.secret"),
                message: format!("secret is not of the expected length, got {}, expected one of {sizes:?} (value redacted)", b.len()),
            }),
            Ok(_) => {}
        }
    }
}

fn check_kms(k: &Kms, path: &str, names: &mut HashSet<String>, rep: &mut Report) {
    let version = k.api_version.clone().unwrap_or_else(|| "v1".into());
    let e = |field: &str, message: String| Finding {
        field: format!("{path}.{field}"),
        message,
    };
    if version != "v1" && version != "v2" {
        rep.errors.push(e(
            "apiVersion",
            format!(
                "unsupported apiVersion {version:?} for KMS provider, only v1 and v2 are supported"
            ),
        ));
    }
    if version == "v1" {
        rep.warnings.push(e("apiVersion", "KMS v1 is deprecated and disabled by default since Kubernetes 1.29 (feature gate KMSv1); use apiVersion: v2".into()));
    }
    if k.name.is_empty() {
        rep.errors
            .push(e("name", "name is a mandatory field for a provider".into()));
    }
    if version != "v1" && k.name.contains(':') {
        rep.errors.push(e(
            "name",
            format!("invalid KMS provider name {}, must not contain ':'", k.name),
        ));
    }
    if version != "v1" && names.contains(&k.name) {
        rep.errors.push(e(
            "name",
            format!(
                "duplicate KMS provider name {}, names must be unique",
                k.name
            ),
        ));
    }
    names.insert(k.name.clone());
    match k.timeout.as_deref().map(parse_go_duration) {
        None => {}
        Some(None) => rep.errors.push(e(
            "timeout",
            format!(
                "{:?} is not a duration (e.g. 3s)",
                k.timeout.as_deref().unwrap_or("")
            ),
        )),
        Some(Some(d)) if d.is_zero() => rep
            .errors
            .push(e("timeout", "timeout should be a positive value".into())),
        Some(Some(_)) => {}
    }
    if k.endpoint.is_empty() {
        rep.errors.push(e(
            "endpoint",
            "endpoint is a mandatory field for a kms".into(),
        ));
    } else if let Some(rest) = k.endpoint.strip_prefix("unix://") {
        if rest.is_empty() {
            rep.errors.push(e(
                "endpoint",
                "the unix:// endpoint names no socket path".into(),
            ));
        }
    } else {
        let scheme = k.endpoint.split_once("://").map(|(s, _)| s).unwrap_or("");
        rep.errors.push(e(
            "endpoint",
            format!("unsupported scheme {scheme:?} for KMS provider, only unix is supported"),
        ));
    }
    match (version.as_str(), k.cache_size) {
        ("v1", Some(0)) => rep.errors.push(e(
            "cachesize",
            "cachesize should be a positive value, or negative to disable".into(),
        )),
        (v, Some(n)) if v != "v1" => rep.errors.push(e(
            "cachesize",
            format!("cachesize ({n}) is not supported in v2"),
        )),
        _ => {}
    }
}

/// The provider kinds [`generate`] can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenerateProvider {
    /// A KMS v2 plugin at an endpoint.
    KmsV2,
    /// AES-GCM with a fresh key.
    Aesgcm,
    /// AES-CBC with a fresh key.
    Aescbc,
    /// secretbox with a fresh key.
    Secretbox,
}

/// Writes a configuration that encrypts `resources` with the chosen provider and
/// keeps `identity` last, so that data written before still reads. Fresh keys come
/// from `random_key` (32 bytes, base64). `name` and `endpoint` are for KMS.
pub fn generate(
    provider: GenerateProvider,
    resources: &[String],
    name: &str,
    endpoint: &str,
    timeout: &str,
    random_key: impl Fn() -> String,
) -> EncryptionConfiguration {
    let keys = || Keys {
        keys: vec![Key {
            name: "key1".into(),
            secret: random_key(),
        }],
    };
    let first = match provider {
        GenerateProvider::KmsV2 => Provider {
            kms: Some(Kms {
                api_version: Some("v2".into()),
                name: name.into(),
                endpoint: endpoint.into(),
                cache_size: None,
                timeout: Some(timeout.into()),
            }),
            ..Provider::default()
        },
        GenerateProvider::Aesgcm => Provider {
            aesgcm: Some(keys()),
            ..Provider::default()
        },
        GenerateProvider::Aescbc => Provider {
            aescbc: Some(keys()),
            ..Provider::default()
        },
        GenerateProvider::Secretbox => Provider {
            secretbox: Some(keys()),
            ..Provider::default()
        },
    };
    EncryptionConfiguration {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        resources: vec![ResourceConfiguration {
            resources: resources.to_vec(),
            providers: vec![
                first,
                Provider {
                    identity: Some(Empty {}),
                    ..Provider::default()
                },
            ],
        }],
    }
}

/// YAML text of a configuration.
pub fn to_yaml(c: &EncryptionConfiguration) -> String {
    serde_norway::to_string(c).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets, configmaps]
    providers:
      - kms: {apiVersion: v2, name: ksec, endpoint: unix:///var/run/kmsplugin/kms.sock, timeout: 3s}
      - aescbc: {keys: [{name: key1, secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=}]}
      - identity: {}
";

    fn errs(text: &str) -> Vec<String> {
        check(&parse(text).unwrap())
            .errors
            .into_iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect()
    }

    #[test]
    fn a_valid_config_passes() {
        let rep = check(&parse(GOOD).unwrap());
        assert!(rep.errors.is_empty(), "{rep:?}");
        assert!(rep.warnings.iter().any(|w| w.message.contains("aescbc")));
    }

    #[test]
    fn apiserver_rules() {
        let bad = GOOD.replace("unix:///var/run/kmsplugin/kms.sock", "tcp://1.2.3.4:80");
        assert!(errs(&bad)
            .iter()
            .any(|e| e.contains("providers[0].kms.endpoint") && e.contains("only unix")));
        let bad = GOOD.replace("apiVersion: v2, name: ksec", "apiVersion: v3, name: ksec");
        assert!(errs(&bad).iter().any(|e| e.contains("only v1 and v2")));
        let bad = GOOD.replace("name: ksec", "name: 'a:b'");
        assert!(errs(&bad)
            .iter()
            .any(|e| e.contains("must not contain ':'")));
        let bad = GOOD.replace("timeout: 3s", "timeout: 0s");
        assert!(errs(&bad).iter().any(|e| e.contains("positive")));
        let bad = GOOD.replace("timeout: 3s", "timeout: 3s, cachesize: 10");
        assert!(errs(&bad).iter().any(|e| e.contains("not supported in v2")));
        let bad = GOOD.replace("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "AAAA");
        let e = errs(&bad);
        assert!(
            e.iter()
                .any(|e| e.contains("keys[0].secret") && e.contains("got 3")),
            "{e:?}"
        );
        let bad = GOOD.replace(
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "not-base64!!",
        );
        let e = errs(&bad);
        assert!(
            e.iter().any(|e| e.contains("base64")) && !e.iter().any(|e| e.contains("not-base64")),
            "{e:?}"
        );
        let bad = GOOD.replace(
            "[secrets, configmaps]",
            "[Secrets, '*', secrets, '*.', deployments.extensions, pods.events.k8s.io, 'x.*']",
        );
        let e = errs(&bad).join("\n");
        for m in [
            "capital",
            "'*.' to encrypt",
            "overlapping",
            "extensions",
            "events",
            "across groups",
        ] {
            assert!(e.contains(m), "{m}: {e}");
        }
        let bad = GOOD.replace(
            "      - identity: {}\n",
            "      - {identity: {}, aescbc: {keys: []}}\n",
        );
        assert!(errs(&bad)
            .iter()
            .any(|e| e.contains("more than one provider")));
        let two = GOOD.replace(
            "      - identity: {}\n",
            "      - kms: {apiVersion: v2, name: ksec, endpoint: 'unix:///x'}\n",
        );
        assert!(errs(&two)
            .iter()
            .any(|e| e.contains("duplicate KMS provider name")));
        assert!(parse(&GOOD.replace("providers:", "provders:"))
            .unwrap_err()
            .contains("provders"));
    }

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_go_duration("3s"),
            Some(std::time::Duration::from_secs(3))
        );
        assert_eq!(
            parse_go_duration("1m30s"),
            Some(std::time::Duration::from_secs(90))
        );
        assert_eq!(
            parse_go_duration("500ms"),
            Some(std::time::Duration::from_millis(500))
        );
        assert_eq!(parse_go_duration("3"), None);
        assert_eq!(parse_go_duration("-1s"), Some(std::time::Duration::ZERO));
    }

    #[test]
    fn generated_configs_are_valid() {
        let res = vec!["secrets".to_string()];
        for p in [
            GenerateProvider::KmsV2,
            GenerateProvider::Aesgcm,
            GenerateProvider::Aescbc,
            GenerateProvider::Secretbox,
        ] {
            let c = generate(
                p,
                &res,
                "ksec",
                "unix:///var/run/kmsplugin/kms.sock",
                "3s",
                || base64::engine::general_purpose::STANDARD.encode([3u8; 32]),
            );
            let text = to_yaml(&c);
            let back = parse(&text).unwrap();
            assert_eq!(back, c);
            assert!(check(&back).errors.is_empty(), "{p:?}: {:?}", check(&back));
        }
    }

    #[test]
    fn random_documents_never_panic() {
        let mut x: u64 = 88172645463325252;
        for _ in 0..500 {
            let s: String = (0..80)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let alphabet = b"ab: -[]{}\n'\"k*.:/";
                    alphabet[(x % alphabet.len() as u64) as usize] as char
                })
                .collect();
            if let Ok(c) = parse(&s) {
                let _ = check(&c);
            }
        }
    }
}
