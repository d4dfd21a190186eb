//! The one error type of this crate. Messages name the item (file, document, object,
//! field, key) and what is wrong with it; they never contain a secret value or key
//! material, and never a command-line flag (the `ksec` binary adds those hints).
use crate::Scope;
use ksec_crypto::CryptoError;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
///
/// Errors about one part of a larger input are wrapped in [`Error::In`], which names
/// that part: `sealed.yaml: document 2: data.password: not valid base64`. Use
/// [`Error::innermost`] to match on the problem itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `error` concerns `item`: a file (`sealed.yaml`), one of its documents
    /// (`sealed.yaml: document 2`), an object (`SealedSecret prod/db`) or a field
    /// (`spec.encryptedData.password`).
    #[error("{item}: {error}")]
    In {
        /// The part of the input.
        item: String,
        /// What is wrong with it.
        error: Box<Error>,
    },

    // Reading manifests.
    /// The input is not UTF-8 text.
    #[error("the input is not UTF-8 text")]
    NotUtf8,
    /// Invalid YAML.
    #[error("invalid YAML in document {document}: {message}")]
    Yaml {
        /// 1-based document number.
        document: usize,
        /// The parser's message, with line and column.
        message: String,
    },
    /// Invalid JSON.
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        /// Line (1-based).
        line: usize,
        /// Column (1-based).
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The input holds no document of the kind asked for.
    #[error("no {kind} found in the input{}", if *.kind == "Secret" { " (expected a YAML or JSON v1 Secret)" } else { "" })]
    NoDocuments {
        /// `Secret` or `SealedSecret`.
        kind: &'static str,
    },
    /// The input holds several documents where exactly one was expected.
    #[error("expected exactly one {kind} document, found {found}")]
    DocumentCount {
        /// `Secret` or `SealedSecret`.
        kind: &'static str,
        /// How many there are.
        found: usize,
    },
    /// A file mixes SealedSecrets with other resources, so it cannot be rewritten whole.
    #[error("mixes SealedSecrets with other resources; split it so ksec can rewrite it without touching the rest")]
    MixedKinds,

    // Resources.
    /// A document of another kind or apiVersion.
    #[error("expected kind {expected} (apiVersion {expected_api_version}), found kind {found:?}{}", .found_api_version.as_ref().map(|a| format!(" apiVersion {a:?}")).unwrap_or_default())]
    WrongKind {
        /// The kind wanted.
        expected: &'static str,
        /// Its apiVersion.
        expected_api_version: &'static str,
        /// The kind found.
        found: String,
        /// The apiVersion found, when it matters.
        found_api_version: Option<String>,
    },
    /// The document is not a mapping.
    #[error("a {kind} must be a mapping with apiVersion, kind, metadata and {}", if *.kind == "Secret" { "data" } else { "spec" })]
    NotAMapping {
        /// `Secret` or `SealedSecret`.
        kind: &'static str,
    },
    /// A field of the wrong type or shape.
    #[error("{field}: {problem}")]
    Field {
        /// The field's path (`metadata.labels.app`, `spec.encryptedData`).
        field: String,
        /// What is wrong and what is expected.
        problem: String,
    },
    /// A value under a Secret's `data` that is not base64.
    #[error("data.{key}: not valid base64 (values under `data` must be base64; put plain text under `stringData`)")]
    DataNotBase64 {
        /// The data key.
        key: String,
    },
    /// An unknown scope name.
    #[error("unknown scope {value:?}: must be one of strict, namespace-wide, cluster-wide")]
    UnknownScope {
        /// The name given.
        value: String,
    },
    /// An unknown output format name.
    #[error("unsupported output format: {value} (use json or yaml)")]
    UnknownFormat {
        /// The name given.
        value: String,
    },

    // Sealing.
    /// A Secret without any value (most likely a mistake).
    #[error("the Secret has no data or stringData; assuming this is a mistake")]
    EmptyData,
    /// A Secret without a name, where the scope binds it.
    #[error("the Secret has no metadata.name")]
    MissingName,
    /// A Secret without a namespace, where the scope binds it.
    #[error("the Secret has no metadata.namespace and the {scope} scope needs one")]
    MissingNamespace {
        /// The scope that needs it.
        scope: Scope,
    },

    /// A merge takes one Secret and a file holding one SealedSecret.
    #[error("a merge takes one Secret and a file holding one SealedSecret ({file} holds {sealed_secrets}, the input {secrets} Secrets)")]
    MergeShape {
        /// The SealedSecret file.
        file: String,
        /// How many Secrets the input holds.
        secrets: usize,
        /// How many SealedSecrets the file holds.
        sealed_secrets: usize,
    },

    // Sealed values.
    /// A sealed value is malformed or did not open (wrapped in [`Error::In`] naming its key).
    #[error("{0}")]
    SealedValue(ValueProblem),
    /// Several values of one SealedSecret failed; keys that failed the same way share one
    /// message: `a, b: no key could decrypt …; c: not valid base64 …`.
    #[error("{}", group_by_reason(.failures))]
    Values {
        /// (key or field, what went wrong) pairs.
        failures: Vec<(String, Error)>,
    },
    /// The legacy `spec.data` blob opened but does not hold a JSON Secret.
    #[error("the sealed blob is not a JSON Secret")]
    LegacyNotASecret,
    /// A `spec.template.data` template did not render.
    #[error("template: {message}")]
    Template {
        /// What is wrong (never a value).
        message: String,
    },
    /// No private keys were given to open values with.
    #[error("no private keys to try")]
    NoKeys,

    // Keys and certificates.
    /// A key file holds no private key.
    #[error("no private key found (expected PEM, or a Secret with tls.key)")]
    NoPrivateKey,
    /// A key file is neither PEM nor YAML/JSON.
    #[error("neither a PEM private key nor a YAML/JSON key Secret ({reason})")]
    NotAKeyFile {
        /// Why it did not parse as YAML/JSON.
        reason: Box<Error>,
    },
    /// A document of a key file is not a Secret.
    #[error("not a Secret; expected key Secrets holding tls.key")]
    NotAKeySecret,
    /// A key Secret lacks a field.
    #[error("the Secret has no {field}")]
    MissingKeyField {
        /// `data.tls.key`.
        field: &'static str,
    },
    /// A key without its certificate where one is needed.
    #[error("no certificate for this key")]
    NoCertificate,
    /// The sealing certificate has expired.
    #[error("the certificate expired on {date}")]
    CertificateExpired {
        /// Expiry date (UTC, `YYYY-MM-DD`).
        date: String,
    },
    /// A key or certificate could not be parsed, generated or used.
    #[error(transparent)]
    Crypto(#[from] CryptoError),

    // Key backups.
    /// Two key Secrets with the same namespace and name.
    #[error("Secret {namespace}/{name} appears twice")]
    DuplicateKeySecret {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// An input larger than any sensible one.
    #[error("larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// A recipient that is not an age (`age1…`) or SSH (`ssh-ed25519`, `ssh-rsa`) public key.
    #[error("recipient {recipient:?}: {problem}")]
    Recipient {
        /// The recipient as given (a public key).
        recipient: String,
        /// What is wrong.
        problem: String,
    },
    /// An identity file that holds no usable age or SSH identity.
    #[error("{problem}")]
    Identity {
        /// What is wrong.
        problem: String,
    },
    /// No identity opens the backup.
    #[error(
        "none of the {tried} identities opens it: the backup was encrypted to other recipients"
    )]
    NoMatchingIdentity {
        /// How many identities were tried.
        tried: usize,
    },
    /// The age file is damaged or not an age file.
    #[error("cannot decrypt: {problem}")]
    Decrypt {
        /// What went wrong.
        problem: String,
    },
    /// age encryption failed.
    #[error("cannot encrypt: {problem}")]
    Encrypt {
        /// What went wrong.
        problem: String,
    },
    /// An encrypted key backup where plain key Secrets are wanted.
    #[error("{file} is already an encrypted backup")]
    AlreadyEncrypted {
        /// The file.
        file: String,
    },
    /// An encrypted key backup, and no identity to open it with.
    #[error("{file} is an age-encrypted key backup")]
    EncryptedBackup {
        /// The file.
        file: String,
    },
    /// An identity file that cannot be used (the error inside names the file).
    #[error("{0}")]
    IdentityFile(Box<Error>),

    // Files and the network.
    /// A file that cannot be read.
    #[error("cannot read {path}")]
    ReadFile {
        /// The file.
        path: String,
        /// The system's reason.
        #[source]
        source: Cause,
    },
    /// A file could not be written (the error of the caller's writer, as it is).
    #[error(transparent)]
    WriteFile(Cause),
    /// A certificate URL that cannot be fetched.
    #[error("cannot fetch {url}")]
    Fetch {
        /// The URL.
        url: String,
        /// The HTTP client's reason.
        #[source]
        source: Cause,
    },
    /// No HTTP client could be set up to fetch a certificate.
    #[error("cannot set up the HTTP client")]
    HttpClient {
        /// The HTTP client's reason.
        #[source]
        source: Cause,
    },
    /// A fetched certificate's body could not be read.
    #[error("cannot read the body of {url}")]
    FetchBody {
        /// The URL.
        url: String,
        /// The HTTP client's reason.
        #[source]
        source: Cause,
    },
    /// A certificate URL answered with an error status.
    #[error("cannot fetch {url:?}: {status}")]
    FetchStatus {
        /// The URL.
        url: String,
        /// The HTTP status, with its reason phrase.
        status: String,
    },

    // The cluster (feature `cluster`).
    /// The cluster cannot be used: its configuration, credentials, connection, or a
    /// refused request (ksec-kube's error, which names the kubeconfig and context).
    #[error(transparent)]
    Kube(Cause),
    /// The sealed-secrets controller's Service does not exist.
    #[error("cannot get the sealed-secrets controller's Service {namespace}/{name} from {server}: not found")]
    ControllerServiceNotFound {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The API server asked.
        server: String,
    },
    /// The sealed-secrets controller's Service cannot be read.
    #[error("cannot get the sealed-secrets controller's Service {namespace}/{name}")]
    ControllerService {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// Why (ksec-kube's error).
        #[source]
        source: Cause,
    },
    /// The controller's Service has no port to reach it through.
    #[error("the Service {namespace}/{name} has no ports, so the controller cannot be reached through it")]
    ServiceWithoutPorts {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The API server's service proxy found no controller answering (502, 503).
    #[error("the sealed-secrets controller {namespace}/{name} ({endpoint} through the API server's service proxy) does not answer ({code} {message}): is it running? kubectl -n {namespace} get pods,endpoints")]
    ControllerUnavailable {
        /// The controller's namespace.
        namespace: String,
        /// Its Service's name.
        name: String,
        /// The endpoint asked (`/v1/cert.pem`).
        endpoint: String,
        /// The HTTP status.
        code: u16,
        /// The API server's message.
        message: String,
    },
    /// The user may not use the controller's Service through the API server's proxy (403).
    #[error("{reason}; users need services/proxy on {target:?} in {namespace} (the sealed-secrets-service-proxier Role of the chart and the Kustomize base grants it)")]
    ProxyForbidden {
        /// The controller's namespace.
        namespace: String,
        /// The proxy target (`http:NAME:PORT`).
        target: String,
        /// ksec-kube's explanation (server, kubeconfig, context).
        reason: Cause,
    },
    /// The controller refused the request: rate limit exceeded (429).
    #[error("the sealed-secrets controller {namespace}/{name} ({endpoint} through the API server's service proxy) refused the request: rate limit exceeded; try again in a moment")]
    ControllerRateLimited {
        /// The controller's namespace.
        namespace: String,
        /// Its Service's name.
        name: String,
        /// The endpoint asked.
        endpoint: String,
    },
    /// The controller answered with an error status.
    #[error("the sealed-secrets controller {namespace}/{name} ({endpoint} through the API server's service proxy) answered {code}: {message}")]
    ControllerStatus {
        /// The controller's namespace.
        namespace: String,
        /// Its Service's name.
        name: String,
        /// The endpoint asked.
        endpoint: String,
        /// The HTTP status.
        code: u16,
        /// Its message.
        message: String,
    },
    /// The controller could not be asked (credentials, connection).
    #[error("the sealed-secrets controller {namespace}/{name} ({endpoint} through the API server's service proxy)")]
    ControllerRequest {
        /// The controller's namespace.
        namespace: String,
        /// Its Service's name.
        name: String,
        /// The endpoint asked.
        endpoint: String,
        /// Why (ksec-kube's error).
        #[source]
        source: Cause,
    },
    /// The controller's answer is not JSON.
    #[error("the sealed-secrets controller {namespace}/{name} answered {endpoint} with something that is not JSON: {message}")]
    ControllerAnswerNotJson {
        /// The controller's namespace.
        namespace: String,
        /// Its Service's name.
        name: String,
        /// The endpoint asked.
        endpoint: String,
        /// The JSON parser's message.
        message: String,
    },
    /// The controller's answer is JSON but not a SealedSecret.
    #[error("the controller {namespace}/{name} answered {endpoint} with something that is not a SealedSecret: {error}")]
    ControllerAnswerNotSealedSecret {
        /// The controller's namespace.
        namespace: String,
        /// Its Service's name.
        name: String,
        /// The endpoint asked.
        endpoint: String,
        /// What is wrong with it.
        error: Box<Error>,
    },
    /// The cluster holds no sealing key Secrets where they were looked for.
    #[error(
        "{place} has no sealing key Secrets (label {})",
        crate::keys::KEY_LABEL
    )]
    NoKeySecrets {
        /// `the cluster at https://… (namespace kube-system)`.
        place: String,
        /// The namespace looked in (`None`: every namespace).
        namespace: Option<String>,
    },
    /// A key Secret that appeared in the cluster while it was being restored (409).
    #[error("cannot create Secret {namespace}/{name}: it appeared meanwhile; run the restore again to see what the cluster has")]
    KeySecretAppeared {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The namespace to restore a key Secret into does not exist (404).
    #[error("cannot create Secret {namespace}/{name}: namespace {namespace} does not exist; create it (kubectl create namespace {namespace})")]
    NamespaceMissing {
        /// The namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
    /// A key Secret could not be created.
    #[error("cannot create Secret {namespace}/{name}")]
    CreateKeySecret {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// Why (ksec-kube's error).
        #[source]
        source: Cause,
    },
    /// A restore stopped at `error`; the key Secrets created before it were deleted
    /// again (`left` lists those that could not be).
    #[error("{}", restore_stopped(*.created, .left))]
    RestoreStopped {
        /// How many key Secrets had been created.
        created: usize,
        /// `namespace/name` of those still in the cluster.
        left: Vec<String>,
        /// What stopped it.
        #[source]
        error: Box<Error>,
    },
}

/// The error of another crate (I/O, HTTP, Kubernetes) under one of [`Error`]'s
/// variants: shared, so that [`Error`] stays `Clone`, and shown with its own causes.
/// Two causes are equal when they are the same occurrence.
#[derive(Debug, Clone)]
pub struct Cause(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// Wraps an error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(error))
    }

    /// Wraps a boxed error (a caller's, for example).
    pub fn from_boxed(error: Box<dyn std::error::Error + Send + Sync>) -> Self {
        Self(std::sync::Arc::from(error))
    }

    /// The error inside, to match on its type.
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Cause {}

/// Why a sealed value could not be opened or made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueProblem {
    /// Shorter than its own length prefix says, or too short to hold a tag.
    #[error("sealed value is truncated ({0} bytes): it was cut off or is not a sealed value")]
    Truncated(usize),
    /// The RSA part did not open: another key, or sealed for another scope/name/namespace.
    #[error("no key could decrypt the value: sealed with another key, or for another name/namespace/scope")]
    WrongKeyOrLabel,
    /// The RSA part opened but the AES part did not authenticate.
    #[error("the sealed value was altered: its AES-GCM tag does not verify")]
    Tampered,
    /// Not valid base64.
    #[error("not valid base64: {0}")]
    Base64(String),
    /// Encryption failed (key too small, RNG failure).
    #[error("sealing failed: {0}")]
    Seal(CryptoError),
}

impl From<ValueProblem> for Error {
    fn from(p: ValueProblem) -> Self {
        Error::SealedValue(p)
    }
}

impl Error {
    /// This error, said to concern `item`.
    pub fn within(self, item: impl Into<String>) -> Self {
        Error::In {
            item: item.into(),
            error: Box::new(self),
        }
    }

    /// The Kubernetes error (ksec-kube's) behind [`Error::Kube`], to add hints by its kind.
    #[cfg(feature = "cluster")]
    pub fn kube(&self) -> Option<&ksec_kube::Error> {
        match self.innermost() {
            Error::Kube(cause) => cause.get().downcast_ref(),
            _ => None,
        }
    }

    /// The problem itself, under every [`Error::In`] that names where it is.
    pub fn innermost(&self) -> &Error {
        match self {
            Error::In { error, .. } => error.innermost(),
            other => other,
        }
    }
}

/// What a stopped restore left behind.
fn restore_stopped(created: usize, left: &[String]) -> String {
    if left.is_empty() {
        format!("nothing was restored ({created} Secret(s) created before the failure were deleted again)")
    } else {
        format!(
            "the restore stopped; these Secrets were created and could not be deleted again: {}",
            left.join(", ")
        )
    }
}

/// "a, b: reason; c: other reason".
fn group_by_reason(failures: &[(String, Error)]) -> String {
    let mut groups: Vec<(Vec<&str>, String)> = vec![];
    for (key, e) in failures {
        let reason = e.to_string();
        match groups.iter_mut().find(|(_, r)| *r == reason) {
            Some((keys, _)) => keys.push(key),
            None => groups.push((vec![key], reason)),
        }
    }
    groups
        .iter()
        .map(|(keys, r)| format!("{}: {r}", keys.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_nest_and_innermost_finds_the_problem() {
        let e = Error::DataNotBase64 { key: "pw".into() }
            .within("document 2")
            .within("in.yaml");
        assert_eq!(
            e.to_string(),
            "in.yaml: document 2: data.pw: not valid base64 (values under `data` must be base64; put plain text under `stringData`)"
        );
        assert_eq!(e.innermost(), &Error::DataNotBase64 { key: "pw".into() });
    }

    #[test]
    fn failures_group_by_reason() {
        let e = Error::Values {
            failures: vec![
                ("a".into(), ValueProblem::WrongKeyOrLabel.into()),
                ("b".into(), ValueProblem::Tampered.into()),
                ("c".into(), ValueProblem::WrongKeyOrLabel.into()),
            ],
        };
        let text = e.to_string();
        assert!(text.starts_with("a, c: no key could decrypt"), "{text}");
        assert!(
            text.ends_with("; b: the sealed value was altered: its AES-GCM tag does not verify"),
            "{text}"
        );
    }
}
