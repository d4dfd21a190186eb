//! The one error type of ksec-helm. Each variant names the values file, URL, key
//! location, setting or plugin folder it is about and says what to do; Helm prints a
//! downloader's standard error as it is, so these messages are what users read. No
//! variant holds a secret: literals are never echoed, and key material never enters a
//! message.
use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `secrets://…` URL does not follow the protocol's syntax.
    #[error("invalid {scheme}:// URL: {reason}")]
    InvalidUrl {
        /// The scheme (`secrets+age-import`, …).
        scheme: String,
        /// What is wrong, with the expected syntax.
        reason: String,
    },
    /// A protocol is switched off by a setting.
    #[error("{scheme}:// is not allowed here: {setting} is false{why}")]
    ProtocolNotAllowed {
        /// The scheme.
        scheme: &'static str,
        /// The environment variable that switches it on.
        setting: &'static str,
        /// Why it is off by default here (Argo CD), or empty.
        why: &'static str,
    },
    /// A key file lies outside `HELM_SECRETS_KEY_LOCATION_PREFIX`.
    #[error("key location {location:?} is not allowed: it does not start with HELM_SECRETS_KEY_LOCATION_PREFIX ({prefix:?})")]
    KeyLocationNotAllowed {
        /// The key location as written in the URL.
        location: String,
        /// The prefix it must start with.
        prefix: String,
    },
    /// A secret backend that ksec does not implement.
    #[error("secret backend {backend:?} is not supported by ksec: {reason}")]
    UnsupportedBackend {
        /// The backend as named (`vals`, or the path of a custom backend script).
        backend: String,
        /// Why, and what to use instead.
        reason: &'static str,
    },
    /// A backend outside `HELM_SECRETS_ALLOWED_BACKENDS`.
    #[error(
        "secret backend {backend:?} is not allowed (HELM_SECRETS_ALLOWED_BACKENDS={allowed:?})"
    )]
    BackendNotAllowed {
        /// The backend asked for.
        backend: String,
        /// The allowed list.
        allowed: String,
    },
    /// An environment setting has a value that means nothing.
    #[error("{name}={value:?}: expected {expected}")]
    InvalidSetting {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it may be.
        expected: &'static str,
    },
    /// A values path is refused by a `HELM_SECRETS_VALUES_ALLOW_*` setting.
    #[error("values file {}: {reason}; set {setting}=true to allow it", path.display())]
    PathRefused {
        /// The path as given.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
        /// The setting that allows it.
        setting: &'static str,
    },
    /// A values file (or key file) does not exist.
    #[error("{what} does not exist: {file}{hint}")]
    Missing {
        /// `values file`, `key file`.
        what: &'static str,
        /// The path or URL.
        file: String,
        /// What to do (prefix with `?`), or empty.
        hint: &'static str,
    },
    /// A file cannot be read.
    #[error("cannot read {file}: {source}")]
    Read {
        /// The path.
        file: String,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// An input is larger than this crate reads.
    #[error("{file} is larger than {limit} bytes")]
    TooLarge {
        /// The path or URL.
        file: String,
        /// The limit.
        limit: u64,
    },
    /// A values file at an http(s) URL could not be fetched.
    #[error("cannot download {url}: {reason}")]
    Download {
        /// The URL.
        url: String,
        /// The HTTP status or transport error.
        reason: String,
    },
    /// An http(s) values URL names an environment variable that cannot be expanded
    /// (`HELM_SECRETS_URL_VARIABLE_EXPANSION`).
    #[error("cannot expand the values URL {url}: {variable} {reason}")]
    UrlVariable {
        /// The URL as written (never the expanded one, which may hold a token).
        url: String,
        /// The reference as written (`${NAME}`).
        variable: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A SOPS file could not be opened.
    #[error("cannot decrypt {file}: {source}{}{}", keys_line(keys), rule.as_deref().map(|r| format!("\n{r}")).unwrap_or_default())]
    Decrypt {
        /// The values file.
        file: String,
        /// The master keys the file names (`age recipient age1…`, `pgp key FP`, `kms key ARN`).
        keys: Vec<String>,
        /// The `.sops.yaml` creation rule that applies to the file, described.
        rule: Option<String>,
        /// Why.
        #[source]
        source: Box<ksec_sops::Error>,
    },
    /// A file that looks like a SOPS file (it has SOPS values or a `sops` entry) does
    /// not parse: truncated or damaged.
    #[error("{file} looks like a SOPS file but cannot be read (truncated or damaged?): {source}")]
    Damaged {
        /// The values file.
        file: String,
        /// The parser's message.
        #[source]
        source: Box<ksec_sops::Error>,
    },
    /// `decrypt` was asked for a file without SOPS metadata.
    #[error("{file} is not encrypted (it has no sops metadata)")]
    NotEncrypted {
        /// The file.
        file: String,
    },
    /// `encrypt` was asked for a file that is already a SOPS file.
    #[error("{file} is already encrypted")]
    AlreadyEncrypted {
        /// The file.
        file: String,
    },
    /// Encrypting a file failed (no recipients, no creation rule, a key failed).
    #[error("cannot encrypt {file}: {source}")]
    Encrypt {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: Box<ksec_sops::Error>,
    },
    /// An imported key could not be used.
    #[error("cannot import the {kind} key from {from}: {reason}")]
    KeyImport {
        /// `age` or `gpg`.
        kind: &'static str,
        /// The key file or `Secret NS/NAME key KEY`.
        from: String,
        /// Why.
        reason: String,
    },
    /// A key could not be read from a cluster Secret.
    #[error("cannot read the key {key:?} of Secret {secret}: {reason}")]
    KubernetesKey {
        /// `NAMESPACE/NAME` (or `NAME` in the kubeconfig's namespace).
        secret: String,
        /// The data key.
        key: String,
        /// Why (the cluster's answer, or which keys the Secret has).
        reason: String,
    },
    /// This build was made without a feature a URL needs.
    #[error("{what} needs ksec built with the {feature:?} feature")]
    FeatureMissing {
        /// What was asked for.
        what: &'static str,
        /// The cargo feature.
        feature: &'static str,
    },
    /// Running Helm failed, or no Helm was found.
    #[error("helm ({}): {reason}", helm.display())]
    Helm {
        /// The helm binary.
        helm: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A plugin folder holds a plugin that ksec did not install.
    #[error("{} already holds a plugin that ksec did not install ({what}); remove it or install with force to replace it", dir.display())]
    PluginConflict {
        /// The folder.
        dir: PathBuf,
        /// What is there (`helm-secrets 4.7.0`).
        what: String,
    },
    /// Arguments for Helm that cannot be rewritten (a flag without its value).
    #[error("helm arguments: {0}")]
    Arguments(String),
    /// A helm-secrets option (`helm secrets --backend …`) came without its value.
    #[error("{option} needs a value")]
    OptionValue {
        /// The option as given.
        option: String,
    },
    /// `helm secrets encrypt|decrypt` came without the file to work on.
    #[error("helm secrets {command} needs a file")]
    NoFile {
        /// The command (`encrypt`, `decrypt`).
        command: &'static str,
    },
    /// `HELM_SECRETS_EVALUATE_TEMPLATES` (helm-secrets' `--evaluate-templates`) asks
    /// for a feature of the vals backend.
    #[error("--evaluate-templates (HELM_SECRETS_EVALUATE_TEMPLATES) needs helm-secrets' vals backend, which ksec does not implement")]
    EvaluateTemplates,
    /// ksec running as `helm` found itself as the real Helm again and again (through
    /// a copy or a link) and stopped.
    #[error("ksec runs as helm and keeps finding itself as the real helm; set HELM_SECRETS_HELM_PATH to the real helm binary")]
    WrapperLoop {
        /// How many times it had started itself.
        depth: u32,
    },
    /// Another file-system operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the path.
        what: String,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
}

fn keys_line(keys: &[String]) -> String {
    if keys.is_empty() {
        String::new()
    } else {
        format!("\nthe file is encrypted for: {}", keys.join(", "))
    }
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// The underlying SOPS error, if this is one (for exit codes and hints).
    pub fn sops_error(&self) -> Option<&ksec_sops::Error> {
        match self {
            Error::Decrypt { source, .. }
            | Error::Damaged { source, .. }
            | Error::Encrypt { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}
