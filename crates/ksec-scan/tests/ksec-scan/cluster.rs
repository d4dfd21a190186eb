//! `Scanner::scan_kubeconfig` against ksec-testkit's HTTPS API server through a
//! kubeconfig (feature `cluster`): a namespace or every namespace, a 403 skipped as
//! forbidden while the scan goes on, and a kubeconfig that cannot be used as
//! `Error::Cluster`.
use ksec_kube::KubeOptions;
use ksec_scan::cluster::ClusterOptions;
use ksec_scan::{Error, Options, Report, Scanner};
use ksec_testkit::cluster::{ApiServer, Credentials, FakeApi};
use std::collections::BTreeSet;

/// A Deployment in `ns` with a password in its environment.
fn deployment(ns: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers:
      - {{name: c, image: x, env: [{{name: DB_PASSWORD, value: hunter2-in-env}}]}}
"
    )
}

fn scan(kube: &KubeOptions, namespace: Option<&str>) -> Result<Report, Error> {
    let options = ClusterOptions {
        namespace: namespace.map(str::to_string),
        ..ClusterOptions::default()
    };
    let mut scanner = Scanner::new(Options::default());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(scanner.scan_kubeconfig(kube, &options))?;
    Ok(scanner.finish())
}

fn files(report: &Report) -> BTreeSet<&str> {
    report.findings.iter().map(|f| f.file.as_str()).collect()
}

#[test]
fn scan_kubeconfig_reads_the_namespaces_asked_and_skips_what_is_forbidden() {
    let server = ApiServer::start(FakeApi::new());
    for ns in ["shop", "blog"] {
        assert_eq!(server.api().load_str(&deployment(ns)).len(), 1);
    }
    let kube = KubeOptions {
        kubeconfig: Some(server.kubeconfig(Credentials::Token)),
        ..KubeOptions::default()
    };

    let all = scan(&kube, None).unwrap();
    assert_eq!(
        files(&all),
        BTreeSet::from(["Deployment/blog/api", "Deployment/shop/api"])
    );
    assert!(all.skipped.is_empty(), "{:?}", all.skipped);
    let shop = scan(&kube, Some("shop")).unwrap();
    assert_eq!(files(&shop), BTreeSet::from(["Deployment/shop/api"]));

    server
        .api()
        .fail(|_, path| path.ends_with("/secrets").then_some(403));
    let refused = scan(&kube, None).unwrap();
    assert_eq!(refused.skipped.len(), 1, "{:?}", refused.skipped);
    assert!(refused.skipped[0].is_forbidden(), "{:?}", refused.skipped);
    assert_eq!(files(&refused), files(&all), "the scan went on");

    server.api().clear_faults();
    server
        .api()
        .fail(|_, path| path.ends_with("/secrets").then_some(500));
    let broken = scan(&kube, None).unwrap();
    assert!(
        !broken.skipped.is_empty() && !broken.skipped.iter().any(|s| s.is_forbidden()),
        "{:?}",
        broken.skipped
    );
}

#[test]
fn a_kubeconfig_that_cannot_be_used_is_a_cluster_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = KubeOptions {
        kubeconfig: Some(dir.path().join("no-such-kubeconfig")),
        ..KubeOptions::default()
    };
    let e = scan(&missing, None).unwrap_err();
    assert!(matches!(e, Error::Cluster(_)), "{e}");
    assert!(e.to_string().contains("no-such-kubeconfig"), "{e}");

    let server = ApiServer::start(FakeApi::new());
    let refused = KubeOptions {
        kubeconfig: Some(server.kubeconfig(Credentials::WrongToken)),
        ..KubeOptions::default()
    };
    assert!(matches!(scan(&refused, None), Err(Error::Cluster(_))));
}
