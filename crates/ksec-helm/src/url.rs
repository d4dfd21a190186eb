//! The URLs of helm-secrets' downloader protocols, as Helm hands them to a getter:
//!
//! ```text
//! secrets://[?][BACKEND!]PATH                       PATH: a file, or an http(s) URL
//! secrets+age-import://[?][BACKEND!]KEYFILE?PATH
//! secrets+gpg-import://[?][BACKEND!]KEYFILE?PATH
//! secrets+age-import-kubernetes://[?][BACKEND!][NAMESPACE/]NAME#KEY?PATH
//! secrets+gpg-import-kubernetes://[?][BACKEND!][NAMESPACE/]NAME#KEY?PATH
//! secrets+literal://[BACKEND!]TEXT
//! ksec://…                                          the same as secrets://
//! ```
//!
//! A leading `?` makes a missing file empty values. The text before the first `!` names
//! a backend (helm-secrets reads every `!` that way in a downloader URL). The key
//! location ends at the first `?`; a Kubernetes key reference splits at its last `#`.
//! These rules are helm-secrets' (`scripts/commands/downloader.sh`), written here as a
//! parser: no percent-decoding, no shell.
use crate::error::{Error, Result};
use std::path::PathBuf;

/// URLs longer than this are refused (Helm's own limits are far below it).
pub const MAX_URL_LEN: usize = 64 * 1024;

/// A downloader protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `secrets://` (and its alias `ksec://`): the local keys decrypt.
    Secrets,
    /// `secrets+age-import://`: an age key file is added.
    AgeImport,
    /// `secrets+gpg-import://`: a PGP private key file is imported.
    GpgImport,
    /// `secrets+age-import-kubernetes://`: an age key from a cluster Secret.
    AgeImportKubernetes,
    /// `secrets+gpg-import-kubernetes://`: a PGP key from a cluster Secret.
    GpgImportKubernetes,
    /// `secrets+literal://`: one literal, decrypted when it is a SOPS JSON document.
    Literal,
}

impl Protocol {
    /// Every protocol, in the order a plugin manifest lists them.
    pub const ALL: [Protocol; 6] = [
        Protocol::Secrets,
        Protocol::GpgImport,
        Protocol::GpgImportKubernetes,
        Protocol::AgeImport,
        Protocol::AgeImportKubernetes,
        Protocol::Literal,
    ];

    /// The schemes a getter plugin registers: helm-secrets' six and `ksec`.
    pub fn schemes() -> impl Iterator<Item = &'static str> {
        Self::ALL.iter().map(|p| p.scheme()).chain(["ksec"])
    }

    /// The URL scheme (without `://`).
    pub fn scheme(self) -> &'static str {
        match self {
            Protocol::Secrets => "secrets",
            Protocol::AgeImport => "secrets+age-import",
            Protocol::GpgImport => "secrets+gpg-import",
            Protocol::AgeImportKubernetes => "secrets+age-import-kubernetes",
            Protocol::GpgImportKubernetes => "secrets+gpg-import-kubernetes",
            Protocol::Literal => "secrets+literal",
        }
    }

    fn from_scheme(s: &str) -> Option<Self> {
        let s = s.to_ascii_lowercase();
        if s == "ksec" {
            return Some(Protocol::Secrets);
        }
        Self::ALL.into_iter().find(|p| p.scheme() == s)
    }

    fn syntax(self) -> &'static str {
        match self {
            Protocol::Secrets => "secrets://[?][BACKEND!]PATH",
            Protocol::AgeImport => "secrets+age-import://[?][BACKEND!]KEYFILE?PATH",
            Protocol::GpgImport => "secrets+gpg-import://[?][BACKEND!]KEYFILE?PATH",
            Protocol::AgeImportKubernetes => {
                "secrets+age-import-kubernetes://[?][BACKEND!][NAMESPACE/]NAME#KEY?PATH"
            }
            Protocol::GpgImportKubernetes => {
                "secrets+gpg-import-kubernetes://[?][BACKEND!][NAMESPACE/]NAME#KEY?PATH"
            }
            Protocol::Literal => "secrets+literal://[BACKEND!]TEXT",
        }
    }
}

/// A backend named in a URL (`BACKEND!`) or by `HELM_SECRETS_BACKEND`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `sops`: SOPS files, decrypted by ksec-sops.
    Sops,
    /// `noop`: files are passed through as they are.
    Noop,
    /// Any other name (`vals`, …): refused when used, naming it.
    Other(String),
    /// A path to a custom backend script: refused when used, naming it.
    Script(String),
}

impl Backend {
    /// Reads a backend as helm-secrets names it: a name, or the path of a script.
    pub fn parse(text: &str) -> Self {
        match text {
            "sops" => Backend::Sops,
            "noop" => Backend::Noop,
            t if t.contains('/') || t.ends_with(".sh") => Backend::Script(t.to_string()),
            t => Backend::Other(t.to_string()),
        }
    }

    /// The name as written.
    pub fn name(&self) -> &str {
        match self {
            Backend::Sops => "sops",
            Backend::Noop => "noop",
            Backend::Other(s) | Backend::Script(s) => s,
        }
    }
}

/// A Secret's data key in a cluster: `[NAMESPACE/]NAME#KEY`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretKeyRef {
    /// The namespace; `None` means the kubeconfig context's.
    pub namespace: Option<String>,
    /// The Secret's name.
    pub name: String,
    /// The key in its `data`.
    pub key: String,
}

impl std::fmt::Display for SecretKeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Where an imported key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyLocation {
    /// A key file (`secrets+age-import://`, `secrets+gpg-import://`).
    File(PathBuf),
    /// A cluster Secret (`…-import-kubernetes://`).
    Kubernetes(SecretKeyRef),
}

/// What the URL points at.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// A local file, relative to Helm's working folder or absolute.
    File(PathBuf),
    /// An `http://` or `https://` URL.
    Http(String),
    /// The text of a `secrets+literal://` URL.
    Literal(String),
}

impl std::fmt::Debug for Target {
    // A literal may be a plaintext secret: Debug shows only its length.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::File(p) => f.debug_tuple("File").field(p).finish(),
            Target::Http(u) => f.debug_tuple("Http").field(u).finish(),
            Target::Literal(t) => write!(f, "Literal({} bytes)", t.len()),
        }
    }
}

impl Target {
    /// The path or URL, for messages (`literal` for a literal).
    pub fn describe(&self) -> String {
        match self {
            Target::File(p) => p.display().to_string(),
            Target::Http(u) => u.clone(),
            Target::Literal(_) => "a secrets+literal:// value".into(),
        }
    }
}

/// A parsed downloader URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretsUrl {
    /// The protocol.
    pub protocol: Protocol,
    /// A leading `?`: a missing file is empty values.
    pub ignore_missing: bool,
    /// A `BACKEND!` prefix.
    pub backend: Option<Backend>,
    /// The key to import, for the `*-import*` protocols.
    pub key: Option<KeyLocation>,
    /// The file, URL or literal.
    pub target: Target,
}

impl SecretsUrl {
    /// Parses a URL as Helm passes it to a downloader.
    pub fn parse(url: &str) -> Result<Self> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| Error::InvalidUrl {
            scheme: "secrets".into(),
            reason: "no scheme: expected secrets://PATH or another secrets+…:// URL".into(),
        })?;
        let protocol = Protocol::from_scheme(scheme).ok_or_else(|| Error::InvalidUrl {
            scheme: scheme.chars().take(64).collect(),
            reason: format!(
                "unknown protocol; ksec serves {}",
                Protocol::schemes().collect::<Vec<_>>().join(", ")
            ),
        })?;
        let invalid = |reason: &str| Error::InvalidUrl {
            scheme: protocol.scheme().into(),
            reason: format!("{reason}; the syntax is {}", protocol.syntax()),
        };
        if url.len() > MAX_URL_LEN {
            return Err(invalid(&format!("longer than {MAX_URL_LEN} bytes")));
        }
        if protocol == Protocol::Literal {
            let (backend, text) = split_backend(rest);
            return Ok(SecretsUrl {
                protocol,
                ignore_missing: false,
                backend,
                key: None,
                target: Target::Literal(text.to_string()),
            });
        }
        let (ignore_missing, rest) = match rest.strip_prefix('?') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (backend, rest) = split_backend(rest);
        let (key, path) = match protocol {
            Protocol::Secrets => (None, rest),
            _ => {
                let (location, path) = rest
                    .split_once('?')
                    .ok_or_else(|| invalid("no '?' between the key location and the file"))?;
                if location.is_empty() {
                    return Err(invalid("the key location is empty"));
                }
                let key = match protocol {
                    Protocol::AgeImport | Protocol::GpgImport => {
                        KeyLocation::File(PathBuf::from(location))
                    }
                    _ => KeyLocation::Kubernetes(parse_secret_ref(location).map_err(invalid)?),
                };
                (Some(key), path)
            }
        };
        if path.is_empty() {
            return Err(invalid("the file is empty"));
        }
        let target = if is_http(path) {
            Target::Http(path.to_string())
        } else {
            Target::File(PathBuf::from(path))
        };
        Ok(SecretsUrl {
            protocol,
            ignore_missing,
            backend,
            key,
            target,
        })
    }
}

impl SecretsUrl {
    /// The URL written back in canonical form (lower-case scheme, `secrets://` for
    /// `ksec://`). Not `Display`: a literal may be a plaintext secret.
    pub(crate) fn to_url_string(&self) -> String {
        let mut out = format!("{}://", self.protocol.scheme());
        if self.ignore_missing {
            out.push('?');
        }
        if let Some(b) = &self.backend {
            out.push_str(b.name());
            out.push('!');
        }
        match &self.key {
            Some(KeyLocation::File(p)) => out.push_str(&p.to_string_lossy()),
            Some(KeyLocation::Kubernetes(r)) => out.push_str(&format!("{r}#{}", r.key)),
            None => {}
        }
        if self.key.is_some() {
            out.push('?');
        }
        match &self.target {
            Target::File(p) => out.push_str(&p.to_string_lossy()),
            Target::Http(u) | Target::Literal(u) => out.push_str(u),
        }
        out
    }
}

/// True for `http://` and `https://` URLs (any case of the scheme).
pub fn is_http(s: &str) -> bool {
    let lower = |n: usize| s.get(..n).map(str::to_ascii_lowercase);
    lower(7).as_deref() == Some("http://") || lower(8).as_deref() == Some("https://")
}

/// Splits `BACKEND!REST` at the first `!`, as helm-secrets' downloader does.
fn split_backend(rest: &str) -> (Option<Backend>, &str) {
    match rest.split_once('!') {
        Some((b, r)) if !b.is_empty() => (Some(Backend::parse(b)), r),
        _ => (None, rest),
    }
}

/// `[NAMESPACE/]NAME#KEY`: the name ends at the last `#`; a `/` before it splits off
/// the namespace.
fn parse_secret_ref(location: &str) -> std::result::Result<SecretKeyRef, &'static str> {
    let (secret, key) = location
        .rsplit_once('#')
        .ok_or("no '#KEY' after the Secret's name")?;
    if key.is_empty() {
        return Err("the Secret's data key after '#' is empty");
    }
    let (namespace, name) = match secret.split_once('/') {
        Some((ns, name)) => (Some(ns.to_string()), name),
        None => (None, secret),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    if !valid(name) || namespace.as_deref().is_some_and(|n| !valid(n)) {
        return Err(
            "the Secret's namespace and name must be Kubernetes names (a-z, 0-9, '-', '.')",
        );
    }
    let key_ok = key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !key_ok {
        return Err(
            "the Secret's data key must be a Kubernetes data key (a-z, A-Z, 0-9, '-', '_', '.')",
        );
    }
    Ok(SecretKeyRef {
        namespace,
        name: name.to_string(),
        key: key.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &str) -> Target {
        Target::File(PathBuf::from(p))
    }

    #[test]
    fn secrets_urls() {
        let u = SecretsUrl::parse("secrets://values/secrets.yaml").unwrap();
        assert_eq!(u.protocol, Protocol::Secrets);
        assert_eq!(u.target, file("values/secrets.yaml"));
        assert!(!u.ignore_missing && u.backend.is_none() && u.key.is_none());

        let u = SecretsUrl::parse("secrets://?/abs/secrets.yaml").unwrap();
        assert!(u.ignore_missing);
        assert_eq!(u.target, file("/abs/secrets.yaml"));

        let u = SecretsUrl::parse("secrets://?noop!secrets.yaml").unwrap();
        assert!(u.ignore_missing);
        assert_eq!(u.backend, Some(Backend::Noop));
        assert_eq!(u.target, file("secrets.yaml"));

        let u = SecretsUrl::parse("ksec://https://example.com/s.yaml").unwrap();
        assert_eq!(u.protocol, Protocol::Secrets);
        assert_eq!(u.target, Target::Http("https://example.com/s.yaml".into()));

        let u = SecretsUrl::parse("SECRETS://vals!x.yaml").unwrap();
        assert_eq!(u.backend, Some(Backend::Other("vals".into())));
        let u = SecretsUrl::parse("secrets:///opt/backend.sh!x.yaml").unwrap();
        assert_eq!(u.backend, Some(Backend::Script("/opt/backend.sh".into())));
    }

    #[test]
    fn import_urls() {
        let u = SecretsUrl::parse("secrets+age-import:///keys/key.txt?secrets.yaml").unwrap();
        assert_eq!(u.key, Some(KeyLocation::File("/keys/key.txt".into())));
        assert_eq!(u.target, file("secrets.yaml"));
        // The key ends at the first '?'; the file may hold more.
        let u = SecretsUrl::parse("secrets+gpg-import://?k.asc?dir/a?b.yaml").unwrap();
        assert!(u.ignore_missing);
        assert_eq!(u.key, Some(KeyLocation::File("k.asc".into())));
        assert_eq!(u.target, file("dir/a?b.yaml"));

        let u = SecretsUrl::parse("secrets+age-import-kubernetes://argocd/keys#key.txt?s.yaml")
            .unwrap();
        assert_eq!(
            u.key,
            Some(KeyLocation::Kubernetes(SecretKeyRef {
                namespace: Some("argocd".into()),
                name: "keys".into(),
                key: "key.txt".into()
            }))
        );
        let u =
            SecretsUrl::parse("secrets+gpg-import-kubernetes://keys#k?https://h/s.yaml").unwrap();
        assert_eq!(
            u.key,
            Some(KeyLocation::Kubernetes(SecretKeyRef {
                namespace: None,
                name: "keys".into(),
                key: "k".into()
            }))
        );
        assert_eq!(u.target, Target::Http("https://h/s.yaml".into()));
    }

    #[test]
    fn literal_urls_keep_everything() {
        let u = SecretsUrl::parse("secrets+literal://sops!{\"a\": \"b?c#d\"}").unwrap();
        assert_eq!(u.backend, Some(Backend::Sops));
        assert_eq!(u.target, Target::Literal("{\"a\": \"b?c#d\"}".into()));
        assert!(!format!("{u:?}").contains("b?c"), "Debug hides literals");
    }

    #[test]
    fn bad_urls_name_the_syntax() {
        for (url, needle) in [
            ("secrets+age-import://key.txt", "no '?'"),
            ("secrets+age-import://?key.txt", "no '?'"),
            ("secrets+age-import://key.txt?", "the file is empty"),
            ("secrets+age-import-kubernetes://ns/name?s.yaml", "#KEY"),
            (
                "secrets+age-import-kubernetes://ns/Na_me#k?s.yaml",
                "Kubernetes names",
            ),
            (
                "secrets+gpg-import-kubernetes://ns/n#k y?s.yaml",
                "data key",
            ),
            ("secrets://", "the file is empty"),
            ("s3://bucket/x", "unknown protocol"),
            ("secrets.yaml", "no scheme"),
        ] {
            let e = SecretsUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(needle), "{url}: {e}");
        }
        let long = format!("secrets://{}", "a".repeat(MAX_URL_LEN));
        assert!(SecretsUrl::parse(&long).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = SecretsUrl::parse(&s);
            let _ = SecretsUrl::parse(&format!("secrets+age-import-kubernetes://{s}"));
            let _ = SecretsUrl::parse(&format!("secrets://?{s}"));
        }

        #[test]
        fn written_back_it_parses_the_same(s in "(secrets|ksec|secrets\\+age-import|secrets\\+gpg-import-kubernetes|secrets\\+literal)://[?!#/a-z0-9.:-]{0,40}") {
            if let Ok(u) = SecretsUrl::parse(&s) {
                let again = SecretsUrl::parse(&u.to_url_string()).unwrap();
                proptest::prop_assert_eq!(again, u);
            }
        }

        #[test]
        fn plain_paths_round_trip(p in "[a-zA-Z0-9_./-]{1,80}") {
            let u = SecretsUrl::parse(&format!("secrets://{p}")).unwrap();
            let expected = if is_http(&p) { Target::Http(p.clone()) } else { Target::File(p.clone().into()) };
            proptest::prop_assert_eq!(u.target, expected);
        }
    }
}
