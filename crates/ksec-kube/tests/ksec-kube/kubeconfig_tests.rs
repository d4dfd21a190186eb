//! Which kubeconfig, context, namespace and user: resolved as kubectl resolves them
//! (kubectl itself is asked about the same files), and errors that name the file.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use ksec_kube::internal::{self, Environment};
use ksec_kube::{Error, KubeOptions, Origin};
use ksec_testkit::cluster::{ApiServer, Credentials, FakeApi, CERT_USER, EXEC_USER, TOKEN_USER};

fn env_with(kubeconfig: &[&Path]) -> Environment {
    Environment {
        kubeconfig: Some(std::env::join_paths(kubeconfig).unwrap()),
        home: None,
        in_cluster: false,
    }
}

/// What kubectl makes of `KUBECONFIG` (and a context): context, namespace, server.
fn kubectl_view(kubeconfig: &OsString, context: Option<&str>) -> Option<(String, String, String)> {
    let bin = ksec_testkit::peer("kubectl")?;
    let mut args = vec!["config", "view", "--minify", "-o"];
    args.push(
        "jsonpath={.current-context}|{.contexts[0].context.namespace}|{.clusters[0].cluster.server}",
    );
    if let Some(c) = context {
        args.extend(["--context", c]);
    }
    let out = Command::new(bin)
        .args(&args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.split('|').map(String::from);
    Some((parts.next()?, parts.next()?, parts.next()?))
}

/// Three kubeconfigs for one server: `a` (token, namespace team-a, not current), `b`
/// (client certificate, current) and another `b` (exec plugin, namespace from-c, current).
struct Files {
    server: ApiServer,
    _dir: tempfile::TempDir,
    a: PathBuf,
    b: PathBuf,
    c: PathBuf,
    missing: PathBuf,
}

fn files() -> Files {
    let server = ApiServer::start(FakeApi::new());
    let dir = ksec_testkit::tempdir();
    let path = |n: &str| dir.path().join(n);
    let (a, b, c, missing) = (path("a"), path("b"), path("c"), path("missing"));
    server
        .kubeconfig_builder(Credentials::Token)
        .context("a")
        .namespace("team-a")
        .not_current()
        .write(&a);
    server
        .kubeconfig_builder(Credentials::ClientCertificate)
        .context("b")
        .write(&b);
    server
        .kubeconfig_builder(Credentials::Exec)
        .context("b")
        .namespace("from-c")
        .write(&c);
    Files {
        server,
        _dir: dir,
        a,
        b,
        c,
        missing,
    }
}

#[tokio::test]
async fn merged_kubeconfigs_resolve_as_kubectl_resolves_them() {
    let f = files();
    for (list, context, want_context, want_namespace, want_user) in [
        (
            vec![&f.missing, &f.a, &f.b, &f.c],
            None,
            "b",
            "default",
            CERT_USER,
        ),
        (vec![&f.c, &f.b], None, "b", "from-c", EXEC_USER),
        (vec![&f.a, &f.b], Some("a"), "a", "team-a", TOKEN_USER),
    ] {
        let paths: Vec<&Path> = list.iter().map(|p| p.as_path()).collect();
        let env = env_with(&paths);
        let options = KubeOptions {
            context: context.map(String::from),
            ..KubeOptions::default()
        };
        let cluster = internal::load_in(&options, &env).await.unwrap();
        let Origin::Kubeconfig {
            files,
            context: got,
        } = cluster.origin()
        else {
            panic!("{:?}", cluster.origin());
        };
        assert_eq!(got, want_context);
        assert!(!files.contains(&f.missing));
        assert_eq!(cluster.namespace(), want_namespace);
        assert_eq!(
            internal::default_namespace_in(None, context, &env)
                .unwrap()
                .as_deref(),
            Some(want_namespace)
        );

        let api: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), cluster.namespace());
        api.list(&Default::default()).await.unwrap();
        assert_eq!(
            f.server.requests().pop().unwrap().user.as_deref(),
            Some(want_user)
        );

        let Some((k_context, k_namespace, k_server)) =
            kubectl_view(env.kubeconfig.as_ref().unwrap(), context)
        else {
            return;
        };
        assert_eq!(k_context, want_context, "kubectl's context");
        let k_namespace = if k_namespace.is_empty() {
            "default".into()
        } else {
            k_namespace
        };
        assert_eq!(k_namespace, cluster.namespace(), "kubectl's namespace");
        assert_eq!(k_server, cluster.server(), "kubectl's server");
    }
}

#[tokio::test]
async fn an_asked_namespace_wins_and_home_is_the_fallback() {
    let f = files();
    let options = KubeOptions {
        kubeconfig: Some(f.a.clone()),
        context: Some("a".into()),
        namespace: Some("elsewhere".into()),
        ..KubeOptions::default()
    };
    let env = Environment::default();
    assert_eq!(
        internal::load_in(&options, &env).await.unwrap().namespace(),
        "elsewhere"
    );
    // An empty namespace counts as none asked (a flag given as "").
    let options = KubeOptions {
        namespace: Some(String::new()),
        ..options
    };
    assert_eq!(
        internal::load_in(&options, &env).await.unwrap().namespace(),
        "team-a"
    );

    let home = ksec_testkit::tempdir();
    std::fs::create_dir_all(home.path().join(".kube")).unwrap();
    std::fs::copy(&f.b, home.path().join(".kube/config")).unwrap();
    let env = Environment {
        kubeconfig: None,
        home: Some(home.path().to_path_buf()),
        in_cluster: false,
    };
    let cluster = internal::load_in(&KubeOptions::default(), &env)
        .await
        .unwrap();
    assert_eq!(
        cluster.origin(),
        &Origin::Kubeconfig {
            files: vec![home.path().join(".kube/config")],
            context: "b".into()
        }
    );
}

#[tokio::test]
async fn bad_configurations_are_named() {
    let f = files();
    let load = |options: KubeOptions, env: Environment| async move {
        internal::load_in(&options, &env).await.unwrap_err()
    };
    let explicit = |p: &Path| KubeOptions {
        kubeconfig: Some(p.to_path_buf()),
        ..KubeOptions::default()
    };

    let err = load(explicit(&f.missing), Environment::default()).await;
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&f.missing.display().to_string()),
        "{err}"
    );

    let garbage = f.missing.with_file_name("garbage");
    std::fs::write(&garbage, "clusters: [: nope").unwrap();
    let err = load(explicit(&garbage), Environment::default()).await;
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("garbage"), "{err}");

    let err = load(explicit(&f.a), Environment::default()).await;
    assert!(matches!(err, Error::NoCurrentContext { .. }), "{err:?}");

    let err = load(
        KubeOptions {
            context: Some("nope".into()),
            ..KubeOptions::default()
        },
        env_with(&[&f.a, &f.b]),
    )
    .await;
    let msg = err.to_string();
    assert!(matches!(err, Error::UnknownContext { .. }), "{err:?}");
    assert!(msg.contains("\"nope\"") && msg.contains("a, b"), "{msg}");

    let no_server = f.missing.with_file_name("no-server");
    std::fs::write(
        &no_server,
        "apiVersion: v1\nkind: Config\ncurrent-context: x\ncontexts:\n- name: x\n  context: {cluster: gone}\nclusters: []\n",
    )
    .unwrap();
    let err = load(explicit(&no_server), Environment::default()).await;
    assert!(matches!(err, Error::Context { .. }), "{err:?}");
    assert!(err.to_string().contains("context \"x\" of"), "{err}");

    let nothing = Environment {
        kubeconfig: Some(f.missing.clone().into_os_string()),
        home: None,
        in_cluster: false,
    };
    let err = load(KubeOptions::default(), nothing.clone()).await;
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("KUBECONFIG="), "{err}");
    assert_eq!(
        internal::default_namespace_in(None, None, &nothing).unwrap(),
        None
    );

    // KUBERNETES_SERVICE_HOST says "in a pod", but there is no service account here.
    let pod = Environment {
        in_cluster: true,
        ..nothing
    };
    let err = load(KubeOptions::default(), pod).await;
    assert!(matches!(err, Error::InCluster { .. }), "{err:?}");
}
