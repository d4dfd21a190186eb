//! One way for ksec to reach a cluster: from a kubeconfig (or the in-cluster service
//! account) to a [`kube::Client`], the namespace to work in, and errors that say which
//! kubeconfig and context they are about.
//!
//! It resolves what `kubectl` and `kubeseal` resolve, with their precedence:
//! - the configuration: an explicit kubeconfig file; else every existing file listed in
//!   `KUBECONFIG`, merged as client-go merges them (the first file to set a value wins);
//!   else `~/.kube/config`; else, inside a pod, the service account;
//! - the context: the one asked for, else `current-context`;
//! - the namespace: the one asked for, else the context's, else `default` (kubeseal's rule;
//!   in a pod, the service account's namespace);
//! - the credentials: client certificates (inline or files), bearer tokens and token
//!   files, exec credential plugins (`client.authentication.k8s.io/v1` and `v1beta1`;
//!   tested with `v1`);
//! - kubectl's overrides of the context's cluster and user (`--server`, `--token`,
//!   `--user`, `--cluster`, `--certificate-authority`, `--client-certificate`,
//!   `--client-key`, `--insecure-skip-tls-verify`, `--tls-server-name`, `--as`,
//!   `--as-group`, `--as-uid`, `--request-timeout`: the fields of [`KubeOptions`]) with client-go's
//!   precedence; a server with credentials needs no kubeconfig. The token is a [`Token`],
//!   wiped on drop and kept out of `Debug` output.
//!
//! Parsing, merging and authentication are kube-rs's (`Kubeconfig`,
//! `Config::from_custom_kubeconfig`); this crate chooses the files, checks the context,
//! names things in errors, and builds the client on rustls with the aws-lc-rs provider
//! installed explicitly (no ring, no OpenSSL). The client does not retry 429/503/504
//! answers (kube-rs would, up to 15 times over minutes): a command-line tool reports them
//! at once, as kubectl does.
//!
//! Tested against ksec-testkit's HTTPS test cluster with every kind of credential and with
//! wrong ones, each override, and against kubectl's own resolution of merged kubeconfigs
//! and of the same overrides. Not tested: a
//! real in-cluster service account (there is no pod here).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use k8s_openapi::api::core::v1::Secret;
//! use ksec_kube::{ClusterConfig, KubeOptions};
//! use ksec_testkit::cluster::{ApiServer, Credentials, FakeApi};
//!
//! // A cluster to talk to, and a kubeconfig for it.
//! let server = ApiServer::start(FakeApi::new());
//! let kubeconfig = server
//!     .kubeconfig_builder(Credentials::ClientCertificate)
//!     .namespace("team-a")
//!     .to_yaml();
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("config");
//! std::fs::write(&path, kubeconfig)?;
//!
//! let options = KubeOptions { kubeconfig: Some(path), ..KubeOptions::default() };
//! let cluster = ClusterConfig::load(&options).await?;
//! assert_eq!(cluster.namespace(), "team-a");
//! let secrets: kube::Api<Secret> = kube::Api::namespaced(cluster.client()?, cluster.namespace());
//! let list = secrets
//!     .list(&Default::default())
//!     .await
//!     .map_err(|e| cluster.explain(e))?;
//! assert!(list.items.is_empty());
//! # Ok(()) }
//! ```

mod error;
mod files;
mod overrides;

use std::fmt;
use std::path::{Path, PathBuf};

use kube::config::KubeConfigOptions;

pub use error::{Error, Result};
pub use overrides::{parse_request_timeout, Token};

/// What a command was told about the cluster: the `kubeconfig`, `context` and
/// `namespace` settings, and kubectl's overrides of the context's cluster and user (each
/// optional; see the crate doc for their precedence).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeOptions {
    /// A kubeconfig file to use instead of `KUBECONFIG` / `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// The context to use instead of `current-context`.
    pub context: Option<String>,
    /// The namespace to use instead of the context's.
    pub namespace: Option<String>,
    /// The API server's URL, instead of the cluster entry's.
    pub server: Option<String>,
    /// A bearer token, instead of the user entry's credentials.
    pub token: Option<Token>,
    /// The kubeconfig user entry to use instead of the context's.
    pub user: Option<String>,
    /// The kubeconfig cluster entry to use instead of the context's.
    pub cluster: Option<String>,
    /// A CA certificate file to trust the server with, instead of the cluster entry's CA.
    pub certificate_authority: Option<PathBuf>,
    /// A client certificate file, instead of the user entry's.
    pub client_certificate: Option<PathBuf>,
    /// The client certificate's key file, instead of the user entry's.
    pub client_key: Option<PathBuf>,
    /// Do not verify the server's certificate (replaces the cluster entry's CA).
    pub insecure_skip_tls_verify: bool,
    /// The name to verify the server's certificate against, instead of the server's host.
    pub tls_server_name: Option<String>,
    /// The user to act as (`Impersonate-User`).
    pub impersonate: Option<String>,
    /// The groups to act as (`Impersonate-Group`).
    pub impersonate_groups: Vec<String>,
    /// The UID to act as (`Impersonate-Uid`).
    pub impersonate_uid: Option<String>,
    /// How long to wait for the server; zero or none keeps the defaults.
    pub request_timeout: Option<std::time::Duration>,
}

/// Where a configuration came from: kubeconfig files and a context, or the pod's
/// service account.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// A context of one or more merged kubeconfig files.
    Kubeconfig {
        /// The files, in merge order.
        files: Vec<PathBuf>,
        /// The context.
        context: String,
    },
    /// The service account of the pod this runs in.
    InCluster,
    /// A server and credentials given without any kubeconfig.
    Given {
        /// The server.
        server: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Kubeconfig { files, context } if context.is_empty() => {
                write!(
                    f,
                    "the settings given with {} (no context)",
                    error::list(files)
                )
            }
            Origin::Kubeconfig { files, context } => {
                write!(f, "context {context:?} of {}", error::list(files))
            }
            Origin::InCluster => f.write_str("the in-cluster service account"),
            // The server is named next to it in every message.
            Origin::Given { .. } => f.write_str("the settings given without a kubeconfig"),
        }
    }
}

/// A cluster's resolved configuration: how to reach it, as whom, and in which namespace.
pub struct ClusterConfig {
    config: kube::Config,
    namespace: String,
    origin: Origin,
}

impl fmt::Debug for ClusterConfig {
    // kube's Config would print its auth settings; the token stays out of sight anyway,
    // but a Debug line needs only these.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("server", &self.server())
            .field("namespace", &self.namespace)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl ClusterConfig {
    /// Resolves `options` with this process's environment (`KUBECONFIG`, `HOME`,
    /// `KUBERNETES_SERVICE_HOST`).
    pub async fn load(options: &KubeOptions) -> Result<Self> {
        Self::load_in(options, &internal::Environment::current()).await
    }

    async fn load_in(options: &KubeOptions, env: &internal::Environment) -> Result<Self> {
        let mut cluster = Self::resolve(options, env).await?;
        cluster.config.default_retry = false;
        overrides::apply_timeout(&mut cluster.config, options.request_timeout);
        Ok(cluster)
    }

    async fn resolve(options: &KubeOptions, env: &internal::Environment) -> Result<Self> {
        let asked_namespace = options.namespace.clone().filter(|n| !n.is_empty());
        let given_server = options.server.as_deref().filter(|s| !s.is_empty());
        let files = files::kubeconfig_files(options.kubeconfig.as_deref(), env);
        if files.is_empty() {
            // As kubectl: a server given on its own needs no kubeconfig; without one, a
            // pod's service account, with the given credentials on top.
            if let Some(server) = given_server {
                let origin = Origin::Given {
                    server: server.to_string(),
                };
                let config = kube::Config::from_custom_kubeconfig(
                    overrides::given(options),
                    &KubeConfigOptions::default(),
                )
                .await
                .map_err(|source| Error::Settings {
                    server: server.to_string(),
                    source,
                })?;
                return Ok(Self {
                    namespace: asked_namespace.unwrap_or_else(|| "default".into()),
                    config,
                    origin,
                });
            }
            if !env.in_cluster || options.context.is_some() {
                return Err(Error::NotFound {
                    searched: env.searched(),
                });
            }
            let mut config =
                kube::Config::incluster().map_err(|source| Error::InCluster { source })?;
            config.auth_info = options.apply_to_user(config.auth_info);
            return Ok(Self {
                namespace: asked_namespace.unwrap_or_else(|| config.default_namespace.clone()),
                config,
                origin: Origin::InCluster,
            });
        }
        let kubeconfig = files::read_merged(&files)?;
        // A given server needs no context (kubectl's rule); an asked one must exist.
        let context = match files::context_name(&kubeconfig, options.context.as_deref(), &files) {
            Ok(c) => c,
            Err(Error::NoCurrentContext { .. }) if given_server.is_some() => String::new(),
            Err(e) => return Err(e),
        };
        let effective = overrides::effective(
            &kubeconfig,
            Some(context.as_str()).filter(|c| !c.is_empty()),
            options,
            &files,
        )?;
        let select = KubeConfigOptions {
            context: effective.current_context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = kube::Config::from_custom_kubeconfig(effective, &select)
            .await
            .map_err(|source| Error::Context {
                context: context.clone(),
                files: files.clone(),
                source,
            })?;
        Ok(Self {
            // kube-rs set it to the context's namespace, else `default`.
            namespace: asked_namespace.unwrap_or_else(|| config.default_namespace.clone()),
            config,
            origin: Origin::Kubeconfig { files, context },
        })
    }

    /// The namespace to work in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Where the configuration came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The API server's URL, as the kubeconfig spells it (`https://host:port`).
    pub fn server(&self) -> String {
        let url = self.config.cluster_url.to_string();
        match url.strip_suffix('/') {
            Some(base) if self.config.cluster_url.path() == "/" => base.to_string(),
            _ => url,
        }
    }

    /// kube-rs's configuration, to adjust before [`ClusterConfig::client`] (timeouts,
    /// retries).
    pub fn config_mut(&mut self) -> &mut kube::Config {
        &mut self.config
    }

    /// A client for the cluster. Call it inside a tokio runtime (the client starts a
    /// task). An exec credential plugin runs here (kube-rs runs it when the client is
    /// built, and again when its credential expires); a rejected token or certificate
    /// shows up on the first request (see [`ClusterConfig::explain`]).
    pub fn client(&self) -> Result<kube::Client> {
        // The one TLS provider of the workspace; a second install is refused, harmlessly.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        kube::Client::try_from(self.config.clone()).map_err(|source| {
            if auth_error(&source).is_some() {
                self.credentials_error(source)
            } else {
                Error::Client {
                    origin: self.origin.clone(),
                    source: Box::new(source),
                }
            }
        })
    }

    /// Turns an error of a request made with this configuration's client into one that
    /// names the server, the kubeconfig and context, and what to do.
    pub fn explain(&self, err: kube::Error) -> Error {
        let server = self.server();
        let origin = self.origin.clone();
        if auth_error(&err).is_some() {
            return self.credentials_error(err);
        }
        match err {
            kube::Error::Api(status) if status.code == 401 => {
                Error::Unauthorized { server, origin }
            }
            kube::Error::Api(status) if status.code == 403 => Error::Forbidden {
                server,
                origin,
                message: status.message.clone(),
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) => Error::Unreachable {
                server,
                origin,
                source: Box::new(err),
            },
            other => Error::Request {
                server,
                source: Box::new(other),
            },
        }
    }

    /// The error of credentials that could not be obtained. A failed exec plugin is
    /// reported with its stderr only: kube-rs's own message carries its stdout, where a
    /// plugin writes its credential.
    fn credentials_error(&self, err: kube::Error) -> Error {
        let origin = self.origin.clone();
        if let Some(kube::client::AuthError::AuthExecRun { out, .. }) = auth_error(&err) {
            let command = self
                .config
                .auth_info
                .exec
                .as_ref()
                .and_then(|e| e.command.clone())
                .unwrap_or_default();
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Error::ExecPlugin {
                origin,
                command,
                status: out.status.to_string(),
                stderr: bounded(stderr.trim(), 2048),
            };
        }
        Error::Credentials {
            origin,
            source: Box::new(err),
        }
    }
}

/// The authentication error inside a kube-rs error: its own variant, or the cause of a
/// middleware error (token refresh happens in a tower layer).
fn auth_error(err: &kube::Error) -> Option<&kube::client::AuthError> {
    if let kube::Error::Auth(e) = err {
        return Some(e);
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = cur {
        if let Some(auth) = e.downcast_ref::<kube::client::AuthError>() {
            return Some(auth);
        }
        cur = e.source();
    }
    None
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The namespace for objects that name none, as kubeseal finds it when it works offline:
/// the context's namespace (the asked `context`, else `current-context`) of the
/// kubeconfig (`kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`), `default` when the
/// context sets none, and `None` when there is no kubeconfig at all.
pub fn default_namespace(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<Option<String>> {
    default_namespace_in(kubeconfig, context, &internal::Environment::current())
}

fn default_namespace_in(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    env: &internal::Environment,
) -> Result<Option<String>> {
    let files = files::kubeconfig_files(kubeconfig, env);
    if files.is_empty() {
        return Ok(None);
    }
    let merged = files::read_merged(&files)?;
    let context = files::context_name(&merged, context, &files)?;
    Ok(Some(
        files::context_namespace(&merged, &context).unwrap_or_else(|| "default".into()),
    ))
}

/// Test hooks: resolution with an environment other than the process's.
#[doc(hidden)]
pub mod internal {
    use std::path::Path;

    pub use crate::files::Environment;
    use crate::{ClusterConfig, KubeOptions, Result};

    /// [`ClusterConfig::load`] with `env` instead of the process environment.
    pub async fn load_in(options: &KubeOptions, env: &Environment) -> Result<ClusterConfig> {
        ClusterConfig::load_in(options, env).await
    }

    /// [`crate::default_namespace`] with `env` instead of the process environment.
    pub fn default_namespace_in(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        env: &Environment,
    ) -> Result<Option<String>> {
        crate::default_namespace_in(kubeconfig, context, env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_namespace_else_default_else_none() {
        let dir = ksec_testkit::tempdir();
        let p = dir.path().join("config");
        std::fs::write(
            &p,
            "current-context: a\ncontexts:\n- name: a\n  context: {cluster: x, namespace: team-a}\n- name: b\n  context: {cluster: x}\n",
        )
        .unwrap();
        let env = internal::Environment::default();
        assert_eq!(
            default_namespace_in(Some(&p), None, &env)
                .unwrap()
                .as_deref(),
            Some("team-a")
        );
        assert_eq!(
            default_namespace_in(Some(&p), Some("b"), &env)
                .unwrap()
                .as_deref(),
            Some("default")
        );
        assert_eq!(default_namespace_in(None, None, &env).unwrap(), None);
        let missing = dir.path().join("missing");
        let err = default_namespace_in(Some(&missing), None, &env).unwrap_err();
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
    }
}
