//! kube-apiserver's validation of an EncryptionConfiguration (`ValidateEncryptionConfiguration`
//! and the strict decoder), on the untyped document so that every finding keeps its field
//! path and one mistake does not hide the next.
use super::{CheckOptions, Finding, FindingKind, Severity, API_VERSION, KIND};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

struct Checker {
    findings: Vec<Finding>,
    opts: CheckOptions,
    kms_names: Vec<String>,
}

impl Checker {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Error,
            path: path.into(),
            message: message.into(),
            kind: FindingKind::Other,
        });
    }
    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            path: path.into(),
            message: message.into(),
            kind: FindingKind::Other,
        });
    }
    fn required(&mut self, path: &str, detail: &str) {
        self.err(path, format!("Required value: {detail}"));
    }
    fn invalid(&mut self, path: &str, value: &str, detail: &str) {
        self.err(path, format!("Invalid value: {value}: {detail}"));
    }

    /// Strict decoding: every field must be one the type knows.
    fn strict(&mut self, obj: &Map<String, Value>, path: &str, known: &[&str]) {
        for k in obj.keys() {
            if !known.contains(&k.as_str()) {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                self.err(
                    p,
                    "unknown field (kube-apiserver decodes this file strictly; check the spelling)",
                );
            }
        }
    }

    fn list<'a>(&mut self, v: Option<&'a Value>, path: &str) -> &'a [Value] {
        match v {
            None | Some(Value::Null) => &[],
            Some(Value::Array(a)) => a,
            Some(_) => {
                self.err(path, "must be a list");
                &[]
            }
        }
    }
}

/// Checks a parsed configuration as kube-apiserver would, plus warnings.
pub(crate) fn check_value(doc: &Value, opts: CheckOptions) -> Vec<Finding> {
    let mut c = Checker {
        findings: vec![],
        opts,
        kms_names: vec![],
    };
    let Some(obj) = doc.as_object() else {
        c.err("", "must be a mapping with apiVersion, kind and resources");
        return c.findings;
    };
    c.strict(obj, "", &["apiVersion", "kind", "resources"]);
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != KIND || api_version != API_VERSION {
        c.err(
            "kind",
            format!("expected kind {KIND} with apiVersion {API_VERSION}, found kind {kind:?} apiVersion {api_version:?}"),
        );
    }
    let resources = c.list(obj.get("resources"), "resources");
    if resources.is_empty() {
        c.required("resources", "at least one resources is required");
        return c.findings;
    }
    let mut secrets_covered = false;
    for (i, rc) in resources.iter().enumerate() {
        let base = format!("resources[{i}]");
        let Some(rc) = rc.as_object() else {
            c.err(&base, "must be a mapping with resources and providers");
            continue;
        };
        c.strict(rc, &base, &["resources", "providers"]);
        let rpath = format!("{base}.resources");
        let names: Vec<String> = c
            .list(rc.get("resources"), &rpath)
            .iter()
            .enumerate()
            .filter_map(|(j, v)| match v.as_str() {
                Some(s) => Some(s.to_string()),
                None => {
                    c.err(format!("{rpath}[{j}]"), "must be a string");
                    None
                }
            })
            .collect();
        if names.is_empty() {
            c.required(&rpath, &format!("at least one {rpath} is required"));
        }
        check_overlap(&mut c, &names, &rpath);
        check_resource_names(&mut c, &names, &rpath);
        let ppath = format!("{base}.providers");
        let providers = c.list(rc.get("providers"), &ppath);
        if providers.is_empty() {
            c.required(&ppath, &format!("at least one {ppath} is required"));
        }
        let mut kinds = vec![];
        for (j, p) in providers.iter().enumerate() {
            kinds.push(check_provider(&mut c, p, &format!("{ppath}[{j}]")));
        }
        let covers_secrets = names
            .iter()
            .any(|n| matches!(n.as_str(), "secrets" | "*." | "*.*"));
        if covers_secrets && !secrets_covered {
            secrets_covered = true;
            match kinds.first().copied().flatten() {
                Some("identity") if kinds.len() > 1 => c.warn(
                    format!("{ppath}[0]"),
                    "identity is first: new writes are stored in plaintext; put the encrypting provider first and keep identity last so old data stays readable",
                ),
                Some("identity") => c.warn(&ppath, "only identity: Secrets are stored in plaintext"),
                _ => {}
            }
        }
    }
    if !secrets_covered {
        c.warn("resources", "no entry covers secrets (\"secrets\", \"*.\" or \"*.*\"): Secrets stay in plaintext in etcd");
    }
    c.findings
}

/// (group, resource) as `schema.ParseGroupResource` splits `resource.group`.
pub(crate) fn group_resource(s: &str) -> (&str, &str) {
    match s.split_once('.') {
        Some((r, g)) => (g, r),
        None => ("", s),
    }
}

fn check_overlap(c: &mut Checker, names: &[String], path: &str) {
    if names.len() < 2 {
        return;
    }
    let grs: Vec<(&str, &str)> = names.iter().map(|n| group_resource(n)).collect();
    let (mut dup, mut overlap) = (false, false);
    for (i, a) in grs.iter().enumerate() {
        for (j, b) in grs.iter().enumerate() {
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
    let shown = format!("{names:?}");
    if dup {
        c.invalid(
            path,
            &shown,
            "the same resource cannot be specified multiple times",
        );
    }
    if overlap {
        c.invalid(path, &shown, "using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked");
    }
}

fn check_resource_names(c: &mut Checker, names: &[String], path: &str) {
    for (j, n) in names.iter().enumerate() {
        let p = format!("{path}[{j}]");
        let shown = format!("{n:?}");
        let (group, resource) = group_resource(n);
        let msg = if n.to_lowercase() != *n {
            "resource name should not contain capital letters"
        } else if n == "*" {
            "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources"
        } else if matches!(
            n.as_str(),
            "apiserveripinfo" | "serviceipallocations" | "servicenodeportallocations"
        ) {
            "resources which do not have REST API/s cannot be encrypted"
        } else if group == "events.k8s.io" {
            "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file"
        } else if group == "extensions" {
            "'extensions' group has been removed and cannot be used for encryption"
        } else if group == "*" && resource != "*" {
            "encrypting the same resource across groups is not supported"
        } else {
            continue;
        };
        c.invalid(&p, &shown, msg);
    }
}

/// Checks one provider; returns its type when exactly one is set.
fn check_provider(c: &mut Checker, p: &Value, path: &str) -> Option<&'static str> {
    const TYPES: [&str; 5] = ["kms", "aesgcm", "aescbc", "secretbox", "identity"];
    let Some(obj) = p.as_object() else {
        c.err(
            path,
            "must be a mapping with one of kms, aesgcm, aescbc, secretbox, identity",
        );
        return None;
    };
    c.strict(obj, path, &TYPES);
    let present: Vec<&'static str> = TYPES
        .iter()
        .copied()
        .filter(|t| obj.get(*t).is_some_and(|v| !v.is_null()))
        .collect();
    match present.len() {
        0 => {
            c.invalid(path, "{}", "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity");
            return None;
        }
        1 => {}
        _ => {
            c.invalid(path, &format!("{present:?}"), "more than one provider specified in a single element, should split into different list elements");
            return None;
        }
    }
    let t = present[0];
    let inner = &obj[t];
    let ipath = format!("{path}.{t}");
    match t {
        "identity" => {
            if let Some(m) = inner.as_object() {
                c.strict(m, &ipath, &[]);
            }
        }
        "aesgcm" | "aescbc" | "secretbox" => {
            let sizes: &[usize] = if t == "secretbox" {
                &[32]
            } else {
                &[16, 24, 32]
            };
            if let Some(m) = inner.as_object() {
                c.strict(m, &ipath, &["keys"]);
            }
            check_keys(c, inner.get("keys"), &format!("{ipath}.keys"), sizes);
            if t == "aescbc" {
                c.warn(&ipath, "aescbc is not recommended (CBC is open to padding-oracle attacks); prefer kms with apiVersion v2, or secretbox");
            }
            if t == "aesgcm" {
                c.warn(&ipath, "aesgcm keys must be rotated before about 200,000 writes (nonce reuse risk); prefer kms with apiVersion v2");
            }
        }
        "kms" => check_kms(c, inner, &ipath),
        _ => {}
    }
    Some(t)
}

fn check_keys(c: &mut Checker, keys: Option<&Value>, path: &str, sizes: &[usize]) {
    let list = c.list(keys, path);
    if list.is_empty() {
        c.required(path, "at least one keys is required");
        return;
    }
    let mut seen: Vec<&str> = vec![];
    for (i, k) in list.iter().enumerate() {
        let kp = format!("{path}[{i}]");
        let Some(obj) = k.as_object() else {
            c.err(&kp, "must be a mapping with name and secret");
            continue;
        };
        c.strict(obj, &kp, &["name", "secret"]);
        let name = obj.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            c.required(&format!("{kp}.name"), "name is a mandatory field for a key");
        } else if seen.contains(&name) {
            c.warn(format!("{kp}.name"), format!("key name {name:?} is used twice in this provider; data is tagged with the key name, so reads may pick the wrong key"));
        } else {
            seen.push(name);
        }
        let secret = obj.get("secret").and_then(Value::as_str).unwrap_or("");
        if secret.is_empty() {
            c.required(
                &format!("{kp}.secret"),
                "secret is a mandatory field for a key",
            );
            continue;
        }
        match STANDARD.decode(secret) {
            Err(_) => c.invalid(
                &format!("{kp}.secret"),
                "\"REDACTED\"",
                "secrets must be base64 encoded",
            ),
            Ok(mut bytes) => {
                let n = bytes.len();
                zeroize::Zeroize::zeroize(&mut bytes);
                if !sizes.contains(&n) {
                    let want = sizes
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(" ");
                    c.invalid(
                        &format!("{kp}.secret"),
                        "\"REDACTED\"",
                        &format!("secret is not of the expected length, got {n}, expected one of [{want}]"),
                    );
                }
            }
        }
    }
}

fn check_kms(c: &mut Checker, v: &Value, path: &str) {
    let Some(obj) = v.as_object() else {
        c.err(path, "must be a mapping with apiVersion, name, endpoint");
        return;
    };
    c.strict(
        obj,
        path,
        &["apiVersion", "name", "endpoint", "cachesize", "timeout"],
    );
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("v1");
    let name = obj.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        c.required(
            &format!("{path}.name"),
            "name is a mandatory field for a provider",
        );
    }
    if api_version != "v1" && name.contains(':') {
        c.invalid(
            &format!("{path}.name"),
            &format!("{name:?}"),
            &format!("invalid KMS provider name {name}, must not contain ':'"),
        );
    }
    if (c.opts.reload || api_version != "v1")
        && !name.is_empty()
        && c.kms_names.iter().any(|n| n == name)
    {
        c.invalid(
            &format!("{path}.name"),
            &format!("{name:?}"),
            &format!("duplicate KMS provider name {name}, names must be unique"),
        );
    }
    c.kms_names.push(name.to_string());
    match obj.get("timeout") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) => match ksec_text::parse_signed_duration(t) {
            Ok(ns) if ns > 0 => {}
            Ok(_) => c.invalid(
                &format!("{path}.timeout"),
                &format!("{t:?}"),
                "timeout should be a positive value",
            ),
            Err(_) => c.invalid(
                &format!("{path}.timeout"),
                &format!("{t:?}"),
                "not a duration: use e.g. 3s, 500ms, 1m",
            ),
        },
        Some(_) => c.invalid(
            &format!("{path}.timeout"),
            "",
            "must be a duration string such as 3s",
        ),
    }
    match obj.get("endpoint").and_then(Value::as_str) {
        None | Some("") => c.invalid(
            &format!("{path}.endpoint"),
            "\"\"",
            "endpoint is a mandatory field for a kms",
        ),
        Some(e) => {
            let scheme = e.split_once("://").map(|(s, _)| s).unwrap_or("");
            if scheme != "unix" {
                c.invalid(
                    &format!("{path}.endpoint"),
                    &format!("{e:?}"),
                    &format!(
                        "unsupported scheme {scheme:?} for KMS provider, only unix is supported"
                    ),
                );
            } else if e.trim_start_matches("unix://").is_empty() {
                c.invalid(
                    &format!("{path}.endpoint"),
                    &format!("{e:?}"),
                    "the unix endpoint needs a socket path, e.g. unix:///var/run/ksec/kms.sock",
                );
            }
        }
    }
    let cachesize = obj.get("cachesize");
    match api_version {
        "v1" => {
            if cachesize.and_then(Value::as_i64) == Some(0) {
                c.invalid(
                    &format!("{path}.cachesize"),
                    "0",
                    "cachesize should be a positive value, or negative to disable",
                );
            }
            if !c.opts.kms_v1_enabled {
                c.err(
                    format!("{path}.apiVersion"),
                    "KMS v1 (the default when apiVersion is unset) is deprecated and disabled since Kubernetes 1.29; set apiVersion: v2, or start the apiserver with --feature-gates=KMSv1=true",
                );
                if let Some(f) = c.findings.last_mut() {
                    f.kind = FindingKind::KmsV1Disabled;
                }
            }
        }
        "v2" => {
            if cachesize.is_some_and(|v| !v.is_null()) {
                c.invalid(
                    &format!("{path}.cachesize"),
                    &cachesize.map(|v| v.to_string()).unwrap_or_default(),
                    "cachesize is not supported in v2",
                );
            }
        }
        other => c.invalid(
            &format!("{path}.apiVersion"),
            &format!("{other:?}"),
            "unsupported apiVersion apiVersion for KMS provider, only v1 and v2 are supported",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{check, CheckOptions, Finding, FindingKind, Severity};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    fn findings(yaml: &str) -> Vec<Finding> {
        check(yaml.as_bytes(), CheckOptions::default())
    }

    fn errors(yaml: &str) -> Vec<String> {
        findings(yaml)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.to_string())
            .collect()
    }

    const HEAD: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n";

    #[test]
    fn a_good_kms_v2_config_has_no_errors() {
        let y = format!("{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - kms: {{apiVersion: v2, name: ksec, endpoint: unix:///run/kms.sock, timeout: 3s}}\n  - identity: {{}}\n");
        assert_eq!(findings(&y), vec![]);
    }

    #[test]
    fn key_sizes_base64_and_names() {
        let y = format!("{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - {{name: a, secret: c2hvcnQ=}}\n      - {{name: '', secret: '!!'}}\n  - secretbox:\n      keys:\n      - {{name: s, secret: {}}}\n", STANDARD.encode([0u8; 16]));
        let e = errors(&y);
        assert!(e.iter().any(|m| m.contains("resources[0].providers[0].aescbc.keys[0].secret: Invalid value: \"REDACTED\": secret is not of the expected length, got 5, expected one of [16 24 32]")), "{e:#?}");
        assert!(
            e.iter().any(|m| m.contains("keys[1].name: Required value")),
            "{e:#?}"
        );
        assert!(
            e.iter().any(|m| m.contains(
                "keys[1].secret: Invalid value: \"REDACTED\": secrets must be base64 encoded"
            )),
            "{e:#?}"
        );
        assert!(
            e.iter()
                .any(|m| m.contains("secretbox.keys[0].secret")
                    && m.contains("expected one of [32]")),
            "{e:#?}"
        );
        assert!(
            !e.iter().any(|m| m.contains("c2hvcnQ")),
            "key material must never be printed"
        );
    }

    #[test]
    fn kms_rules_as_the_apiserver_has_them() {
        let y = format!("{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - kms: {{apiVersion: v2, name: 'a:b', endpoint: 'tcp://x', cachesize: 10, timeout: 0s}}\n  - kms: {{apiVersion: v3, name: x, endpoint: unix:///s}}\n  - kms: {{apiVersion: v2, name: x, endpoint: unix:///s}}\n  - kms: {{name: old, endpoint: unix:///s}}\n");
        let e = errors(&y).join("\n");
        for want in [
            "must not contain ':'",
            "unsupported scheme \"tcp\" for KMS provider, only unix is supported",
            "cachesize is not supported in v2",
            "timeout should be a positive value",
            "only v1 and v2 are supported",
            "duplicate KMS provider name x, names must be unique",
            "providers[3].kms.apiVersion: KMS v1",
        ] {
            assert!(e.contains(want), "missing {want:?} in\n{e}");
        }
        let with_gate = check(
            y.as_bytes(),
            CheckOptions {
                kms_v1_enabled: true,
                reload: false,
            },
        );
        assert!(!with_gate.iter().any(|f| f.message.contains("KMS v1")));
        let gated: Vec<String> = check(y.as_bytes(), CheckOptions::default())
            .into_iter()
            .filter(|f| f.kind == FindingKind::KmsV1Disabled)
            .map(|f| f.path)
            .collect();
        assert_eq!(gated, ["resources[0].providers[3].kms.apiVersion"]);
    }

    #[test]
    fn resource_rules() {
        let y = format!("{HEAD}resources:\n- resources: [secrets, '*.', Secrets, '*', events.events.k8s.io, deployments.extensions, pods.*, serviceipallocations, secrets]\n  providers: [{{identity: {{}}}}]\n");
        let e = errors(&y).join("\n");
        for want in [
            "the same resource cannot be specified multiple times",
            "overlapping resources",
            "resources[0].resources[2]: Invalid value: \"Secrets\": resource name should not contain capital letters",
            "use '*.' to encrypt all the resources",
            "Use 'events' instead",
            "'extensions' group has been removed",
            "encrypting the same resource across groups is not supported",
            "do not have REST API/s",
        ] {
            assert!(e.contains(want), "missing {want:?} in\n{e}");
        }
    }

    #[test]
    fn structure_errors_name_the_field() {
        let e = errors(&format!("{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - {{}}\n  - {{identity: {{}}, aescbc: {{keys: []}}}}\n  - aesgcm: {{keys: [], extra: 1}}\n  prividers: []\n")).join("\n");
        assert!(e.contains("resources[0].prividers: unknown field"), "{e}");
        assert!(e.contains("providers[0]: Invalid value: {}: provider does not contain any of the expected providers"), "{e}");
        assert!(
            e.contains("providers[1]: Invalid value") && e.contains("more than one provider"),
            "{e}"
        );
        assert!(
            e.contains("providers[2].aesgcm.extra: unknown field"),
            "{e}"
        );
        assert!(
            e.contains("providers[2].aesgcm.keys: Required value: at least one keys is required"),
            "{e}"
        );
        assert!(errors("kind: Other\n")
            .iter()
            .any(|m| m.contains("expected kind EncryptionConfiguration")));
        assert!(errors(&format!("{HEAD}resources: []\n"))
            .iter()
            .any(|m| m.contains("at least one resources is required")));
    }

    #[test]
    fn warnings_for_unwise_choices() {
        let y = format!("{HEAD}resources:\n- resources: [configmaps]\n  providers:\n  - identity: {{}}\n  - aescbc: {{keys: [{{name: k, secret: {0}}}, {{name: k, secret: {0}}}]}}\n", STANDARD.encode([1u8; 32]));
        let w: Vec<String> = findings(&y)
            .into_iter()
            .filter(|f| f.severity == Severity::Warning)
            .map(|f| f.message)
            .collect();
        assert!(
            w.iter().any(|m| m.contains("no entry covers secrets")),
            "{w:#?}"
        );
        assert!(w.iter().any(|m| m.contains("padding-oracle")), "{w:#?}");
        assert!(w.iter().any(|m| m.contains("used twice")), "{w:#?}");
        let y2 = format!("{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - identity: {{}}\n  - secretbox: {{keys: [{{name: k, secret: {}}}]}}\n", STANDARD.encode([1u8; 32]));
        assert!(findings(&y2)
            .iter()
            .any(|f| f.message.contains("identity is first")));
    }

    proptest::proptest! {
        /// The checker never panics, whatever the document (same entry point as the fuzz target).
        #[test]
        fn check_never_panics(text in "[a-z:{}\\[\\], \n'-]{0,200}") {
            let _ = check(text.as_bytes(), CheckOptions::default());
        }
    }

    #[test]
    fn unreadable_files_are_one_finding_at_the_root() {
        let f = check(b"a: 1\n---\nb: 2\n", CheckOptions::default());
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("2 documents"), "{f:?}");
        assert_eq!(f[0].path, "");
        assert_eq!(
            check(b"", CheckOptions::default())[0].message,
            "the file is empty"
        );
        assert!(check(b"a: [", CheckOptions::default())[0]
            .message
            .contains("invalid YAML"));
    }
}
