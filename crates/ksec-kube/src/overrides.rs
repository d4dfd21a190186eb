//! The settings kubectl takes on its command line on top of a kubeconfig (client-go's
//! `clientcmd` overrides: server, token, user and cluster entries, CA, client
//! certificate, TLS checks, impersonation, request timeout), applied with client-go's
//! precedence (`tools/clientcmd/client_config.go`):
//! - `cluster` / `user` name the kubeconfig entries to use instead of the context's; a
//!   named entry must exist, while a context's missing entry only leaves its settings empty;
//! - each given setting replaces the entry's;
//! - a CA or skipping verification replaces the entry's CA *and* its verification choice
//!   (so a kubeconfig's CA does not clash with skipping verification), and a server
//!   without a TLS server name clears the entry's (it named the old server);
//! - a server with credentials needs no kubeconfig at all.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::KubeOptions;

/// A bearer token, held in a buffer wiped on drop and left out of `Debug` output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Token(Zeroizing<String>);

impl Token {
    /// The token's text, to put in an `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Token {
    fn from(text: String) -> Self {
        Self(Zeroizing::new(text))
    }
}

impl From<&str> for Token {
    fn from(text: &str) -> Self {
        Self(Zeroizing::new(text.to_string()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The name of the one context, cluster and user of a kubeconfig built from the settings
/// alone (no kubeconfig file).
const GIVEN: &str = "ksec-given";

impl KubeOptions {
    /// The cluster entry with the overrides applied.
    fn apply_to_cluster(&self, mut cluster: Cluster) -> Cluster {
        if let Some(server) = nonempty(&self.server) {
            cluster.server = Some(server.to_string());
        }
        if self.insecure_skip_tls_verify || self.certificate_authority.is_some() {
            cluster.insecure_skip_tls_verify = Some(self.insecure_skip_tls_verify);
            cluster.certificate_authority = self.certificate_authority.as_deref().map(path_text);
            cluster.certificate_authority_data = None;
        }
        if self.tls_server_name.is_some() || self.server.is_some() {
            cluster.tls_server_name = nonempty(&self.tls_server_name).map(String::from);
        }
        cluster
    }

    /// The user entry with the overrides applied. A given token is the credential: the
    /// entry's other ways to get one (token file, exec plugin, auth provider, basic
    /// auth) are dropped, as kube-rs would otherwise prefer some of them; client
    /// certificates stay, as with kubectl.
    pub(crate) fn apply_to_user(&self, mut user: AuthInfo) -> AuthInfo {
        if let Some(token) = self.token.as_ref().filter(|t| !t.expose().is_empty()) {
            user.token = Some(token.expose().to_string().into());
            user.token_file = None;
            user.exec = None;
            user.auth_provider = None;
            user.username = None;
            user.password = None;
        }
        if let Some(cert) = &self.client_certificate {
            user.client_certificate = Some(path_text(cert));
            user.client_certificate_data = None;
        }
        if let Some(key) = &self.client_key {
            user.client_key = Some(path_text(key));
            user.client_key_data = None;
        }
        if let Some(name) = nonempty(&self.impersonate) {
            user.impersonate = Some(name.to_string());
        }
        if !self.impersonate_groups.is_empty() {
            user.impersonate_groups = Some(self.impersonate_groups.clone());
        }
        if let Some(uid) = nonempty(&self.impersonate_uid) {
            user.impersonate_uid = Some(uid.to_string());
        }
        user
    }
}

/// Builds the kubeconfig of one context, one cluster and one user that kube-rs loads:
/// the entries `context` (if any) of `merged` selects, or that `options` names, with
/// `options`'s overrides on top. `files` is for messages.
pub(crate) fn effective(
    merged: &Kubeconfig,
    context: Option<&str>,
    options: &KubeOptions,
    files: &[PathBuf],
) -> Result<Kubeconfig> {
    let chosen = context
        .and_then(|c| merged.contexts.iter().find(|n| n.name == c))
        .and_then(|n| n.context.clone())
        .unwrap_or_default();
    let cluster = match nonempty(&options.cluster) {
        Some(name) => find_cluster(merged, name).ok_or_else(|| Error::UnknownCluster {
            cluster: name.to_string(),
            files: files.to_vec(),
            known: merged.clusters.iter().map(|c| c.name.clone()).collect(),
        })?,
        None => find_cluster(merged, &chosen.cluster).unwrap_or_default(),
    };
    let user = match nonempty(&options.user) {
        Some(name) => find_user(merged, name).ok_or_else(|| Error::UnknownUser {
            user: name.to_string(),
            files: files.to_vec(),
            known: merged.auth_infos.iter().map(|u| u.name.clone()).collect(),
        })?,
        None => chosen
            .user
            .as_deref()
            .and_then(|u| find_user(merged, u))
            .unwrap_or_default(),
    };
    Ok(single(
        context.unwrap_or(GIVEN),
        options.apply_to_cluster(cluster),
        options.apply_to_user(user),
        chosen.namespace,
    ))
}

/// A kubeconfig from the settings alone.
pub(crate) fn given(options: &KubeOptions) -> Kubeconfig {
    single(
        GIVEN,
        options.apply_to_cluster(Cluster::default()),
        options.apply_to_user(AuthInfo::default()),
        None,
    )
}

fn single(
    context: &str,
    cluster: Cluster,
    user: AuthInfo,
    namespace: Option<String>,
) -> Kubeconfig {
    Kubeconfig {
        clusters: vec![NamedCluster {
            name: GIVEN.into(),
            cluster: Some(cluster),
            ..NamedCluster::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: GIVEN.into(),
            auth_info: Some(user),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: context.to_string(),
            context: Some(Context {
                cluster: GIVEN.into(),
                user: Some(GIVEN.into()),
                namespace,
                ..Context::default()
            }),
            ..NamedContext::default()
        }],
        current_context: Some(context.to_string()),
        ..Kubeconfig::default()
    }
}

fn find_cluster(merged: &Kubeconfig, name: &str) -> Option<Cluster> {
    merged
        .clusters
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.cluster.clone())
}

fn find_user(merged: &Kubeconfig, name: &str) -> Option<AuthInfo> {
    merged
        .auth_infos
        .iter()
        .find(|u| u.name == name)
        .and_then(|u| u.auth_info.clone())
}

fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

/// Sets a request timeout (kubectl's `--request-timeout`) on kube-rs's configuration:
/// zero leaves kube-rs's defaults; otherwise it bounds connecting, each read and each
/// write (kube-rs has no limit on a whole request, which is what client-go's is).
pub(crate) fn apply_timeout(config: &mut kube::Config, timeout: Option<Duration>) {
    if let Some(t) = timeout.filter(|t| !t.is_zero()) {
        config.connect_timeout = Some(t);
        config.read_timeout = Some(t);
        config.write_timeout = Some(t);
    }
}

/// Parses a request timeout as kubectl does: a whole number of seconds (`30`), or a Go
/// duration (`1m30s`); `0` means none.
pub fn parse_request_timeout(text: &str) -> Result<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    ksec_text::parse_duration(text).map_err(|source| Error::RequestTimeout {
        value: text.to_string(),
        source,
    })
}
