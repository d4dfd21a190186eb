//! The one error type of ksec-kube. Every variant names the kubeconfig files and the
//! context (or the in-cluster service account) it is about, and says what to do.

use std::path::{Path, PathBuf};

use crate::Origin;

/// What went wrong while finding, reading or using a cluster's configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A kubeconfig file cannot be read or is not a kubeconfig.
    #[error("cannot read the kubeconfig {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// kube-rs's reason.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// A kubeconfig file is larger than any kubeconfig should be.
    #[error(
        "the kubeconfig {} has {size} bytes, more than the {limit} a kubeconfig may have",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The files of `KUBECONFIG` cannot be merged (different `kind` or `apiVersion`).
    #[error("cannot merge the kubeconfigs {}: {source}", list(files))]
    Merge {
        /// The files, in merge order.
        files: Vec<PathBuf>,
        /// kube-rs's reason.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No kubeconfig exists where one is looked for, and this is not a pod.
    #[error(
        "no kubeconfig found ({searched}) and not running inside a cluster; point KUBECONFIG at a kubeconfig file, or give the API server's address and credentials"
    )]
    NotFound {
        /// Where kubeconfigs were looked for.
        searched: String,
    },
    /// No context was asked for and the kubeconfig sets no `current-context`.
    #[error("{} set no current-context; name the context to use", list(files))]
    NoCurrentContext {
        /// The kubeconfig files.
        files: Vec<PathBuf>,
    },
    /// The context asked for is not in the kubeconfig.
    #[error(
        "context {context:?} is not in {} (its contexts: {})",
        list(files),
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    )]
    UnknownContext {
        /// The context asked for.
        context: String,
        /// The kubeconfig files.
        files: Vec<PathBuf>,
        /// The contexts they define.
        known: Vec<String>,
    },
    /// The kubeconfig cluster entry asked for is not in the kubeconfig.
    #[error(
        "cluster {cluster:?} is not in {} (its clusters: {})",
        list(files),
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    )]
    UnknownCluster {
        /// The cluster entry asked for.
        cluster: String,
        /// The kubeconfig files.
        files: Vec<PathBuf>,
        /// The cluster entries they define.
        known: Vec<String>,
    },
    /// The kubeconfig user entry asked for is not in the kubeconfig.
    #[error(
        "user {user:?} is not in {} (its users: {})",
        list(files),
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    )]
    UnknownUser {
        /// The user entry asked for.
        user: String,
        /// The kubeconfig files.
        files: Vec<PathBuf>,
        /// The user entries they define.
        known: Vec<String>,
    },
    /// A server and credentials given without a kubeconfig cannot be used: a bad server
    /// URL, a CA or a client certificate that cannot be loaded.
    #[error("the settings given for {server} without a kubeconfig cannot be used: {source}")]
    Settings {
        /// The server given.
        server: String,
        /// kube-rs's reason.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// A request timeout that is neither whole seconds nor a Go duration.
    #[error("request timeout {value:?} is not a number of seconds or a duration such as 30s, 2m, 1h: {source}")]
    RequestTimeout {
        /// The text given.
        value: String,
        /// Why it is not a duration.
        #[source]
        source: ksec_text::Error,
    },
    /// The context exists but cannot be used: no cluster, a bad server URL, a CA or a
    /// client certificate that cannot be loaded.
    #[error("context {context:?} of {} cannot be used: {source}", list(files))]
    Context {
        /// The context.
        context: String,
        /// The kubeconfig files.
        files: Vec<PathBuf>,
        /// kube-rs's reason.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The in-cluster configuration (service account token, CA) cannot be loaded.
    #[error("cannot load the in-cluster configuration: {source}")]
    InCluster {
        /// kube-rs's reason.
        #[source]
        source: kube::config::InClusterError,
    },
    /// No client can be built from the configuration (for example a client key that
    /// does not match its certificate).
    #[error("cannot build a Kubernetes client for {origin}: {source}")]
    Client {
        /// Where the configuration came from.
        origin: Origin,
        /// kube-rs's reason.
        #[source]
        source: Box<kube::Error>,
    },
    /// The API server refused the credentials (401).
    #[error(
        "the API server at {server} refused the credentials of {origin} (401 Unauthorized): they are missing, wrong or expired; log in again or use a context with valid credentials"
    )]
    Unauthorized {
        /// The API server's URL.
        server: String,
        /// Where the credentials came from.
        origin: Origin,
    },
    /// The API server knows the user but does not allow the request (403).
    #[error("the API server at {server} does not allow {origin} this request (403 Forbidden): {message}")]
    Forbidden {
        /// The API server's URL.
        server: String,
        /// Where the credentials came from.
        origin: Origin,
        /// The API server's message (it names the verb and resource).
        message: String,
    },
    /// The credentials could not be obtained (an exec plugin failed, a token file is
    /// unreadable).
    #[error("cannot get the credentials of {origin}: {source}")]
    Credentials {
        /// Where the credentials are configured.
        origin: Origin,
        /// kube-rs's reason (for an exec plugin, its exit status and stderr).
        #[source]
        source: Box<kube::Error>,
    },
    /// An exec credential plugin failed.
    #[error("the exec credential plugin {command} of {origin} failed ({status}): {stderr}")]
    ExecPlugin {
        /// Where the plugin is configured.
        origin: Origin,
        /// The plugin's command.
        command: String,
        /// Its exit status.
        status: String,
        /// What it wrote to stderr (its stdout, where a credential would be, is left out).
        stderr: String,
    },
    /// The API server cannot be reached (connection refused, DNS, TLS).
    #[error("cannot reach the API server at {server} of {origin}: {source}")]
    Unreachable {
        /// The API server's URL.
        server: String,
        /// Where the address came from.
        origin: Origin,
        /// The connection error.
        #[source]
        source: Box<kube::Error>,
    },
    /// Any other failed request.
    #[error("request to the API server at {server} failed: {source}")]
    Request {
        /// The API server's URL.
        server: String,
        /// kube-rs's error.
        #[source]
        source: Box<kube::Error>,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `a, b` for a list of files.
pub(crate) fn list(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|p| Path::display(p).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
