//! Kubeconfig files for the HTTPS test cluster, one per way of proving who you are (and
//! a few wrong ways, for the error paths).

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::server::{ApiServer, EXEC_USER, TOKEN_FILE_USER};

/// How a kubeconfig's user authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// `client-certificate-data` / `client-key-data`, signed by the cluster CA (user
    /// `ksec-test-admin`, group `system:masters`).
    ClientCertificate,
    /// A bearer `token` (user `ksec-test-token`).
    Token,
    /// A `tokenFile` next to the kubeconfig (user `ksec-test-token-file`).
    TokenFile,
    /// An `exec` credential plugin (`client.authentication.k8s.io/v1`) that prints an
    /// `ExecCredential` with a token (user `ksec-test-exec`).
    Exec,
    /// An `exec` plugin that fails: exit status 1, a message on stderr.
    FailingExec,
    /// No credentials at all.
    None,
    /// A bearer token the server does not know.
    WrongToken,
    /// A client certificate signed by a CA the server does not trust.
    UntrustedClientCertificate,
}

impl Credentials {
    fn file_stem(self) -> &'static str {
        match self {
            Credentials::ClientCertificate => "client-certificate",
            Credentials::Token => "token",
            Credentials::TokenFile => "token-file",
            Credentials::Exec => "exec",
            Credentials::FailingExec => "failing-exec",
            Credentials::None => "none",
            Credentials::WrongToken => "wrong-token",
            Credentials::UntrustedClientCertificate => "untrusted-client-certificate",
        }
    }
}

/// A kubeconfig for an [`ApiServer`], with one cluster, one user and one context (all
/// named after the context, `ksec-test` unless set).
pub struct KubeconfigBuilder<'a> {
    server: &'a ApiServer,
    credentials: Credentials,
    context: String,
    namespace: Option<String>,
    current: bool,
}

impl ApiServer {
    /// Writes a kubeconfig with `credentials` into the server's directory (context
    /// `ksec-test`, no namespace) and returns its path.
    pub fn kubeconfig(&self, credentials: Credentials) -> PathBuf {
        let path = self.path(&format!("kubeconfig-{}.yaml", credentials.file_stem()));
        self.kubeconfig_builder(credentials).write(&path);
        path
    }

    /// A kubeconfig to adjust (context name, namespace) before writing it.
    pub fn kubeconfig_builder(&self, credentials: Credentials) -> KubeconfigBuilder<'_> {
        KubeconfigBuilder {
            server: self,
            credentials,
            context: "ksec-test".into(),
            namespace: None,
            current: true,
        }
    }

    /// Writes the token file and the exec plugins the kubeconfigs point at.
    pub(super) fn write_credential_files(&self) {
        write_private(
            &self.path("token"),
            self.pki.token_of(TOKEN_FILE_USER).as_bytes(),
        );
        let credential = json!({
            "apiVersion": "client.authentication.k8s.io/v1",
            "kind": "ExecCredential",
            "status": {"token": self.pki.token_of(EXEC_USER)},
        });
        let script = format!("#!/bin/sh\ncat <<'EOF'\n{credential}\nEOF\n");
        write_executable(&self.path("exec-plugin"), &script);
        write_executable(
            &self.path("failing-exec-plugin"),
            "#!/bin/sh\necho 'ksec-test exec plugin: you are not logged in' >&2\nexit 1\n",
        );
    }
}

impl KubeconfigBuilder<'_> {
    /// Names the context (and its cluster and user entries).
    pub fn context(mut self, name: &str) -> Self {
        self.context = name.to_string();
        self
    }

    /// Sets the context's namespace.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }

    /// Leaves `current-context` unset (as in a second file of a merged `KUBECONFIG`).
    pub fn not_current(mut self) -> Self {
        self.current = false;
        self
    }

    /// The kubeconfig as YAML.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(&self.to_value()).expect("kubeconfig as YAML")
    }

    /// Writes the kubeconfig to `path` (mode 0600, as kubectl writes them).
    pub fn write(&self, path: &Path) {
        write_private(path, self.to_yaml().as_bytes());
    }

    fn user(&self) -> Value {
        let pki = &self.server.pki;
        let cert = |issued: &ksec_crypto::tls::IssuedCertificate| {
            json!({
                "client-certificate-data": STANDARD.encode(issued.certificate_pem()),
                "client-key-data": STANDARD.encode(issued.private_key_pem().as_bytes()),
            })
        };
        let exec = |plugin: &str| {
            json!({"exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": self.server.path(plugin).display().to_string(),
                "args": [],
                "interactiveMode": "Never",
                "provideClusterInfo": false,
            }})
        };
        match self.credentials {
            Credentials::ClientCertificate => cert(&pki.client),
            Credentials::UntrustedClientCertificate => cert(
                &pki.stranger
                    .issue_client(
                        super::server::CERT_USER,
                        Some("system:masters"),
                        std::time::Duration::from_secs(86_400),
                    )
                    .expect("issue an untrusted client certificate"),
            ),
            Credentials::Token => json!({"token": self.server.token()}),
            Credentials::WrongToken => json!({"token": "not-a-token-this-cluster-knows"}),
            Credentials::TokenFile => {
                json!({"tokenFile": self.server.path("token").display().to_string()})
            }
            Credentials::Exec => exec("exec-plugin"),
            Credentials::FailingExec => exec("failing-exec-plugin"),
            Credentials::None => json!({}),
        }
    }

    fn to_value(&self) -> Value {
        let name = &self.context;
        let mut context = json!({"cluster": name, "user": name});
        if let Some(ns) = &self.namespace {
            context["namespace"] = json!(ns);
        }
        let mut config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {
                "server": self.server.url(),
                "certificate-authority-data": STANDARD.encode(self.server.ca_pem()),
            }}],
            "users": [{"name": name, "user": self.user()}],
            "contexts": [{"name": name, "context": context}],
        });
        if self.current {
            config["current-context"] = json!(name);
        }
        config
    }
}

fn write_private(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    f.write_all(bytes)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Writes a script and makes it executable; written under another name and renamed, so
/// no process can exec it while it is still open for writing (ETXTBSY).
fn write_executable(path: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    write_private(&tmp, script.as_bytes());
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", tmp.display()));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}
