//! kubectl's command-line overrides (server, token, user and cluster entries, CA, client
//! certificate, TLS checks, impersonation, timeout) against the HTTPS test cluster, with
//! client-go's precedence; and the real kubectl given the same settings reaching the
//! same server as the same user.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::{json, Value};

use ksec_kube::internal::{self, Environment};
use ksec_kube::{ClusterConfig, Error, KubeOptions, Origin, Token};
use ksec_testkit::cluster::{ApiServer, Credentials, FakeApi, CERT_USER, TOKEN_USER};

/// A server with one ConfigMap, and files next to it: the cluster CA, the client
/// certificate and key of the cert kubeconfig, and a certificate that is not a CA.
struct Setup {
    server: ApiServer,
    dir: tempfile::TempDir,
    ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn setup() -> Setup {
    let server = ApiServer::start(FakeApi::new());
    server.api().insert(
        "core/configmaps",
        json!({"metadata": {"name": "c", "namespace": "default"}}),
    );
    let dir = ksec_testkit::tempdir();
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    let yaml = std::fs::read_to_string(server.kubeconfig(Credentials::ClientCertificate)).unwrap();
    let config: Value = serde_norway::from_str(&yaml).unwrap();
    let user = &config["users"][0]["user"];
    let decode = |field: &str| STANDARD.decode(user[field].as_str().unwrap()).unwrap();
    let client_cert = dir.path().join("client.crt");
    let client_key = dir.path().join("client.key");
    std::fs::write(&client_cert, decode("client-certificate-data")).unwrap();
    std::fs::write(&client_key, decode("client-key-data")).unwrap();
    Setup {
        server,
        dir,
        ca,
        client_cert,
        client_key,
    }
}

/// No kubeconfig anywhere and not in a pod: only the settings count.
fn nothing() -> Environment {
    Environment::default()
}

async fn load(options: &KubeOptions) -> Result<ClusterConfig, Error> {
    internal::load_in(options, &nothing()).await
}

/// Lists ConfigMaps and returns the user the server saw.
async fn user_of(cluster: &ClusterConfig, server: &ApiServer) -> Result<String, Error> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client()?, cluster.namespace());
    let list = api
        .list(&Default::default())
        .await
        .map_err(|e| cluster.explain(e))?;
    assert_eq!(list.items.len(), 1);
    Ok(server.requests().pop().unwrap().user.unwrap())
}

fn given(s: &Setup) -> KubeOptions {
    KubeOptions {
        server: Some(s.server.url()),
        certificate_authority: Some(s.ca.clone()),
        ..KubeOptions::default()
    }
}

#[tokio::test]
async fn a_server_and_token_need_no_kubeconfig() {
    let s = setup();
    let options = KubeOptions {
        token: Some(Token::from(s.server.token())),
        ..given(&s)
    };
    let cluster = load(&options).await.unwrap();
    assert_eq!(
        cluster.origin(),
        &Origin::Given {
            server: s.server.url()
        }
    );
    assert_eq!(cluster.namespace(), "default");
    assert_eq!(user_of(&cluster, &s.server).await.unwrap(), TOKEN_USER);

    // The token stays out of Debug output.
    let debug = format!("{options:?} {cluster:?}");
    assert!(!debug.contains(s.server.token()), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");

    // A client certificate instead of a token.
    let options = KubeOptions {
        client_certificate: Some(s.client_cert.clone()),
        client_key: Some(s.client_key.clone()),
        namespace: Some("default".into()),
        ..given(&s)
    };
    let cluster = load(&options).await.unwrap();
    assert_eq!(user_of(&cluster, &s.server).await.unwrap(), CERT_USER);
}

#[tokio::test]
async fn a_wrong_token_is_the_clear_401_error() {
    let s = setup();
    let options = KubeOptions {
        token: Some(Token::from("not-a-token-this-cluster-knows")),
        ..given(&s)
    };
    let cluster = load(&options).await.unwrap();
    let err = user_of(&cluster, &s.server).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&s.server.url()), "{msg}");
    assert!(msg.contains("401 Unauthorized"), "{msg}");
    assert!(msg.contains("without a kubeconfig"), "{msg}");
    assert!(!msg.contains("not-a-token"), "{msg}");
}

#[tokio::test]
async fn the_server_certificate_is_verified_unless_told_not_to() {
    let s = setup();
    let token = Some(Token::from(s.server.token()));
    // No CA: the system's roots do not know the test CA.
    let options = KubeOptions {
        server: Some(s.server.url()),
        token: token.clone(),
        ..KubeOptions::default()
    };
    let cluster = load(&options).await.unwrap();
    let err = user_of(&cluster, &s.server).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");

    let options = KubeOptions {
        insecure_skip_tls_verify: true,
        ..options
    };
    let cluster = load(&options).await.unwrap();
    assert_eq!(user_of(&cluster, &s.server).await.unwrap(), TOKEN_USER);

    // The kubeconfig's CA is right, but a given CA replaces it: a certificate that is
    // not the cluster's CA cannot verify the server.
    let kubeconfig = s.server.kubeconfig(Credentials::Token);
    let with_file = KubeOptions {
        kubeconfig: Some(kubeconfig.clone()),
        ..KubeOptions::default()
    };
    let cluster = load(&with_file).await.unwrap();
    assert_eq!(user_of(&cluster, &s.server).await.unwrap(), TOKEN_USER);
    let wrong_ca = KubeOptions {
        certificate_authority: Some(s.client_cert.clone()),
        ..with_file.clone()
    };
    let cluster = load(&wrong_ca).await.unwrap();
    let err = user_of(&cluster, &s.server).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    // Skipping verification replaces the kubeconfig's CA too (client-go's rule), so
    // the two do not clash.
    let insecure = KubeOptions {
        insecure_skip_tls_verify: true,
        ..with_file
    };
    let cluster = load(&insecure).await.unwrap();
    assert_eq!(user_of(&cluster, &s.server).await.unwrap(), TOKEN_USER);
}

#[tokio::test]
async fn the_tls_server_name_is_the_one_verified() {
    let s = setup();
    let base = KubeOptions {
        token: Some(Token::from(s.server.token())),
        ..given(&s)
    };
    // The serving certificate names localhost and 127.0.0.1.
    let options = KubeOptions {
        tls_server_name: Some("localhost".into()),
        ..base.clone()
    };
    let cluster = load(&options).await.unwrap();
    assert_eq!(user_of(&cluster, &s.server).await.unwrap(), TOKEN_USER);
    let options = KubeOptions {
        tls_server_name: Some("elsewhere.example".into()),
        ..base
    };
    let cluster = load(&options).await.unwrap();
    let err = user_of(&cluster, &s.server).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
}

/// A kubeconfig with two contexts, clusters and users: `a` (token, not current) and `b`
/// (no credentials, current, its cluster's server a port where nothing listens).
fn two_users(s: &Setup) -> PathBuf {
    let a = s.dir.path().join("a");
    let b = s.dir.path().join("b");
    s.server
        .kubeconfig_builder(Credentials::Token)
        .context("a")
        .not_current()
        .write(&a);
    let yaml = s
        .server
        .kubeconfig_builder(Credentials::None)
        .context("b")
        .to_yaml()
        .replace(&s.server.url(), "https://127.0.0.1:1");
    std::fs::write(&b, yaml).unwrap();
    let merged = s.dir.path().join("merged");
    let mut config: Value = serde_norway::from_str(&std::fs::read_to_string(&b).unwrap()).unwrap();
    let other: Value = serde_norway::from_str(&std::fs::read_to_string(&a).unwrap()).unwrap();
    for list in ["clusters", "users", "contexts"] {
        let more = other[list].as_array().unwrap().clone();
        config[list].as_array_mut().unwrap().extend(more);
    }
    std::fs::write(&merged, serde_norway::to_string(&config).unwrap()).unwrap();
    merged
}

#[tokio::test]
async fn user_cluster_and_server_override_the_context() {
    let s = setup();
    let path = two_users(&s);
    let file = KubeOptions {
        kubeconfig: Some(path.clone()),
        ..KubeOptions::default()
    };

    // Context b as it is: nothing listens at its server.
    let cluster = load(&file).await.unwrap();
    let err = user_of(&cluster, &s.server).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");

    // Context b with cluster a: reached, but b's user has no credentials.
    let cluster_a = KubeOptions {
        cluster: Some("a".into()),
        ..file.clone()
    };
    let cluster = load(&cluster_a).await.unwrap();
    assert_eq!(cluster.server(), s.server.url());
    let err = user_of(&cluster, &s.server).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");

    // And user a: the token user, still in context b.
    let both = KubeOptions {
        user: Some("a".into()),
        ..cluster_a
    };
    let cluster = load(&both).await.unwrap();
    assert_eq!(
        cluster.origin(),
        &Origin::Kubeconfig {
            files: vec![path.clone()],
            context: "b".into()
        }
    );
    assert_eq!(user_of(&cluster, &s.server).await.unwrap(), TOKEN_USER);

    // The server instead of cluster a's entry, with user a: its CA stays b's.
    let server = KubeOptions {
        user: Some("a".into()),
        server: Some(s.server.url()),
        ..file.clone()
    };
    let cluster = load(&server).await.unwrap();
    assert_eq!(user_of(&cluster, &s.server).await.unwrap(), TOKEN_USER);

    // A token on top of b's empty user.
    let token = KubeOptions {
        token: Some(Token::from(s.server.token())),
        cluster: Some("a".into()),
        ..file.clone()
    };
    let cluster = load(&token).await.unwrap();
    assert_eq!(user_of(&cluster, &s.server).await.unwrap(), TOKEN_USER);

    // A client certificate on top of b's empty user.
    let cert = KubeOptions {
        client_certificate: Some(s.client_cert.clone()),
        client_key: Some(s.client_key.clone()),
        cluster: Some("a".into()),
        ..file.clone()
    };
    let cluster = load(&cert).await.unwrap();
    assert_eq!(user_of(&cluster, &s.server).await.unwrap(), CERT_USER);

    // Entries that are not there are named, with the ones that are.
    let err = load(&KubeOptions {
        user: Some("nobody".into()),
        ..file.clone()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::UnknownUser { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("\"nobody\"") && msg.contains("b, a"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    let err = load(&KubeOptions {
        cluster: Some("nowhere".into()),
        ..file
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::UnknownCluster { .. }), "{err:?}");
    assert!(err.to_string().contains("\"nowhere\""), "{err}");
}

#[tokio::test]
async fn a_given_server_needs_no_current_context() {
    let s = setup();
    let path = s.dir.path().join("no-current");
    s.server
        .kubeconfig_builder(Credentials::Token)
        .not_current()
        .write(&path);
    let file = KubeOptions {
        kubeconfig: Some(path.clone()),
        ..KubeOptions::default()
    };
    let err = load(&file).await.unwrap_err();
    assert!(matches!(err, Error::NoCurrentContext { .. }), "{err:?}");
    let options = KubeOptions {
        token: Some(Token::from(s.server.token())),
        ..given(&s)
    };
    let options = KubeOptions {
        kubeconfig: Some(path.clone()),
        ..options
    };
    let cluster = load(&options).await.unwrap();
    assert_eq!(
        cluster.origin(),
        &Origin::Kubeconfig {
            files: vec![path],
            context: String::new()
        }
    );
    assert!(cluster.origin().to_string().contains("(no context)"));
    assert_eq!(user_of(&cluster, &s.server).await.unwrap(), TOKEN_USER);
}

#[tokio::test]
async fn impersonation_and_timeouts_reach_the_client_configuration() {
    let s = setup();
    let mut cluster = load(&KubeOptions {
        token: Some(Token::from(s.server.token())),
        impersonate: Some("jane".into()),
        impersonate_groups: vec!["dev".into(), "ops".into()],
        impersonate_uid: Some("42".into()),
        request_timeout: Some(Duration::from_secs(7)),
        ..given(&s)
    })
    .await
    .unwrap();
    let config = cluster.config_mut();
    assert_eq!(config.auth_info.impersonate.as_deref(), Some("jane"));
    assert_eq!(
        config.auth_info.impersonate_groups.as_deref(),
        Some(&["dev".to_string(), "ops".to_string()][..])
    );
    assert_eq!(config.auth_info.impersonate_uid.as_deref(), Some("42"));
    assert_eq!(config.read_timeout, Some(Duration::from_secs(7)));
    assert_eq!(config.connect_timeout, Some(Duration::from_secs(7)));
    // Zero keeps kube-rs's defaults (kubectl: zero means no timeout).
    let mut cluster = load(&KubeOptions {
        request_timeout: Some(Duration::ZERO),
        ..given(&s)
    })
    .await
    .unwrap();
    assert_eq!(cluster.config_mut().read_timeout, None);

    // kubectl's spellings of a timeout.
    for (text, want) in [
        ("30", Duration::from_secs(30)),
        ("0", Duration::ZERO),
        ("1m30s", Duration::from_secs(90)),
        ("250ms", Duration::from_millis(250)),
    ] {
        assert_eq!(
            ksec_kube::parse_request_timeout(text).unwrap(),
            want,
            "{text}"
        );
    }
    for bad in ["soon", "-1s", "1x"] {
        let err = ksec_kube::parse_request_timeout(bad).unwrap_err();
        assert!(
            matches!(err, Error::RequestTimeout { .. }),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains(bad), "{err}");
    }
}

#[tokio::test]
async fn settings_that_cannot_be_used_are_named() {
    let s = setup();
    let err = load(&KubeOptions {
        certificate_authority: Some(s.dir.path().join("missing-ca.crt")),
        ..given(&s)
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Settings { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&s.server.url()), "{msg}");

    // Without a server, the settings alone are no configuration.
    let err = load(&KubeOptions {
        token: Some(Token::from(s.server.token())),
        ..KubeOptions::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("address and credentials"), "{err}");
}

/// kubectl given the same flags reaches the same server as the same user: the flags
/// mean what kubectl's mean.
#[tokio::test]
async fn kubectl_reads_the_same_flags_the_same_way() {
    let s = setup();
    let Some(kubectl) = ksec_testkit::peer("kubectl") else {
        return;
    };
    let path = two_users(&s);
    let home = ksec_testkit::tempdir();
    let runs: Vec<(Vec<String>, KubeOptions, &str)> = vec![
        (
            vec![
                "--server".into(),
                s.server.url(),
                "--token".into(),
                s.server.token().into(),
                "--certificate-authority".into(),
                s.ca.display().to_string(),
            ],
            KubeOptions {
                token: Some(Token::from(s.server.token())),
                ..given(&s)
            },
            TOKEN_USER,
        ),
        (
            vec![
                "--kubeconfig".into(),
                path.display().to_string(),
                "--cluster".into(),
                "a".into(),
                "--user".into(),
                "a".into(),
            ],
            KubeOptions {
                kubeconfig: Some(path.clone()),
                cluster: Some("a".into()),
                user: Some("a".into()),
                ..KubeOptions::default()
            },
            TOKEN_USER,
        ),
        (
            vec![
                "--server".into(),
                s.server.url(),
                "--client-certificate".into(),
                s.client_cert.display().to_string(),
                "--client-key".into(),
                s.client_key.display().to_string(),
                "--insecure-skip-tls-verify".into(),
                "--tls-server-name".into(),
                "localhost".into(),
                "--request-timeout".into(),
                "30".into(),
            ],
            KubeOptions {
                server: Some(s.server.url()),
                client_certificate: Some(s.client_cert.clone()),
                client_key: Some(s.client_key.clone()),
                insecure_skip_tls_verify: true,
                tls_server_name: Some("localhost".into()),
                request_timeout: Some(Duration::from_secs(30)),
                ..KubeOptions::default()
            },
            CERT_USER,
        ),
    ];
    for (flags, options, user) in runs {
        let out = Command::new(&kubectl)
            .args(&flags)
            .args(["get", "configmaps", "-n", "default", "-o", "name"])
            .env("KUBECONFIG", home.path().join("none"))
            .env("HOME", home.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {flags:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "configmap/c");
        let seen = s.server.requests();
        let last = seen.iter().rev().find(|r| r.path.ends_with("/configmaps"));
        assert_eq!(
            last.unwrap().user.as_deref(),
            Some(user),
            "kubectl {flags:?}"
        );

        let cluster = load(&options).await.unwrap();
        assert_eq!(
            user_of(&cluster, &s.server).await.unwrap(),
            user,
            "{flags:?}"
        );
    }
}
