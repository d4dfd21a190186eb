//! The flags of every command that talks to a cluster: kubectl's (client-go's `clientcmd`)
//! way to name the kubeconfig and context, and to override the context's cluster and
//! user (`--server --token --certificate-authority`, as kubeseal takes them in CI).
//! `-n` is not here: each command gives its namespace its own meaning.
//!
//! A command that needs other names or variables adjusts them with clap's `mut_arg`
//! (`ksec seal` reads each from its `SEALED_SECRETS_*` variable; `ksec scan` calls the
//! cluster entry `--kube-cluster`, its `--cluster` being "scan the live cluster").
use clap::Args;
use ksec_kube::{KubeOptions, Token};
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the cluster: kubeconfig, context, and kubectl's overrides.
#[derive(Args, Debug, Clone, Default)]
pub struct KubeArgs {
    /// Path to a kubeconfig (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The API server's address, instead of the context's (with --token or a client
    /// certificate it needs no kubeconfig).
    #[arg(short = 's', long, value_name = "URL")]
    pub server: Option<String>,
    /// A bearer token for the API server, instead of the context user's credentials.
    #[arg(long, value_name = "TOKEN", value_parser = parse_token, hide_env_values = true)]
    pub token: Option<Token>,
    /// The kubeconfig user entry to use instead of the context's.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// The kubeconfig cluster entry to use instead of the context's.
    #[arg(id = "kube_cluster", long = "cluster", value_name = "NAME")]
    pub cluster: Option<String>,
    /// A CA certificate file to verify the API server with.
    #[arg(long = "certificate-authority", value_name = "FILE")]
    pub certificate_authority: Option<PathBuf>,
    /// A client certificate file for TLS.
    #[arg(long = "client-certificate", value_name = "FILE")]
    pub client_certificate: Option<PathBuf>,
    /// The client certificate's key file.
    #[arg(long = "client-key", value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    /// Do not verify the API server's certificate (insecure).
    #[arg(long = "insecure-skip-tls-verify")]
    pub insecure_skip_tls_verify: bool,
    /// The name to verify the API server's certificate against (default: its host).
    #[arg(long = "tls-server-name", value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// The user to act as (impersonation).
    #[arg(long = "as", value_name = "USER")]
    pub impersonate: Option<String>,
    /// A group to act as; repeat for several.
    #[arg(long = "as-group", value_name = "GROUP")]
    pub impersonate_groups: Vec<String>,
    /// The UID to act as (impersonation).
    #[arg(long = "as-uid", value_name = "UID")]
    pub impersonate_uid: Option<String>,
    /// How long to wait for the API server: seconds (30) or a duration (1m30s); 0 for the
    /// defaults.
    #[arg(long = "request-timeout", value_name = "DURATION", value_parser = parse_timeout)]
    pub request_timeout: Option<Duration>,
}

fn parse_token(text: &str) -> Result<Token, String> {
    Ok(Token::from(text))
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    ksec_kube::parse_request_timeout(text).map_err(|e| e.to_string())
}

impl KubeArgs {
    /// The options for `ksec_kube`, with `namespace` (the command's own -n, if it has one).
    pub fn options(&self, namespace: Option<String>) -> KubeOptions {
        KubeOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace,
            server: self.server.clone(),
            token: self.token.clone(),
            user: self.user.clone(),
            cluster: self.cluster.clone(),
            certificate_authority: self.certificate_authority.clone(),
            client_certificate: self.client_certificate.clone(),
            client_key: self.client_key.clone(),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify,
            tls_server_name: self.tls_server_name.clone(),
            impersonate: self.impersonate.clone(),
            impersonate_groups: self.impersonate_groups.clone(),
            impersonate_uid: self.impersonate_uid.clone(),
            request_timeout: self.request_timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        kube: KubeArgs,
    }

    #[test]
    fn every_flag_lands_in_its_option() {
        let cli = Cli::try_parse_from([
            "t",
            "--kubeconfig=k",
            "--context=c",
            "-s",
            "https://api:6443",
            "--token=t0ken",
            "--user=u",
            "--cluster=cl",
            "--certificate-authority=ca.crt",
            "--client-certificate=c.crt",
            "--client-key=c.key",
            "--insecure-skip-tls-verify",
            "--tls-server-name=api.example",
            "--as=jane",
            "--as-group=dev",
            "--as-group=ops",
            "--as-uid=42",
            "--request-timeout=30",
        ])
        .unwrap();
        let o = cli.kube.options(Some("ns".into()));
        assert_eq!(o.kubeconfig, Some(PathBuf::from("k")));
        assert_eq!(o.context.as_deref(), Some("c"));
        assert_eq!(o.namespace.as_deref(), Some("ns"));
        assert_eq!(o.server.as_deref(), Some("https://api:6443"));
        assert_eq!(o.token.as_ref().map(Token::expose), Some("t0ken"));
        assert_eq!(o.user.as_deref(), Some("u"));
        assert_eq!(o.cluster.as_deref(), Some("cl"));
        assert_eq!(o.certificate_authority, Some(PathBuf::from("ca.crt")));
        assert_eq!(o.client_certificate, Some(PathBuf::from("c.crt")));
        assert_eq!(o.client_key, Some(PathBuf::from("c.key")));
        assert!(o.insecure_skip_tls_verify);
        assert_eq!(o.tls_server_name.as_deref(), Some("api.example"));
        assert_eq!(o.impersonate.as_deref(), Some("jane"));
        assert_eq!(o.impersonate_groups, ["dev", "ops"]);
        assert_eq!(o.impersonate_uid.as_deref(), Some("42"));
        assert_eq!(o.request_timeout, Some(Duration::from_secs(30)));
        assert!(!format!("{:?}", cli.kube).contains("t0ken"));
    }
}
