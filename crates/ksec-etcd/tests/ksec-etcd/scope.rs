//! `audit::audit` and `recover::recover` on a real etcd 3.4 filled with `etcdctl`, live
//! and from an `etcdctl snapshot save` file: each resource is read where kube-apiserver
//! keeps it (a Deployment under `/registry/deployments/`, a custom resource under
//! `/registry/example.com/widgets/`), never from a look-alike key
//! (`/registry/apps/deployments/`); rewritten values come back with their history; a
//! value that cannot be read is counted and reported by its etcd key; the observer
//! hears every resource start and end.
use ksec_etcd::audit::{audit, Outcome, Policy, Verdict};
use ksec_etcd::decrypt::Decryptor;
use ksec_etcd::encryption_config::EncryptionConfiguration;
use ksec_etcd::etcd::TlsFiles;
use ksec_etcd::recover::{recover, Dropped, ManifestFormat};
use ksec_etcd::source::{Location, ReadObserver, ReadStage, Scope, Source};
use ksec_testkit::etcd::Etcd;
use serde_json::Value;
use std::time::Duration;

fn object(api_version: &str, kind: &str, name: &str, generation: u32) -> String {
    format!(
        r#"{{"apiVersion":"{api_version}","kind":"{kind}","metadata":{{"name":"{name}","namespace":"default","generation":{generation}}}}}"#
    )
}

fn put(etcd: &Etcd, key: &str, value: &str) {
    let out = etcd.etcdctl(&["put", key, value]);
    assert!(
        out.status.success(),
        "etcdctl put {key}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the observer heard, in order.
#[derive(Default)]
struct Heard(Vec<String>, u64);

impl ReadObserver for Heard {
    fn resource_started(&mut self, prefix: &str, keys: Option<u64>) {
        self.0.push(format!("start {prefix} {keys:?}"));
    }
    fn values_read(&mut self, values: u64) {
        self.1 += values;
    }
    fn resource_failed(&mut self, prefix: &str, stage: ReadStage, error: &ksec_etcd::Error) {
        self.0.push(format!("failed {prefix} {stage:?} {error}"));
    }
    fn resource_finished(&mut self, prefix: &str) {
        self.0.push(format!("end {prefix}"));
    }
}

fn scope(all_revisions: bool) -> Scope {
    Scope {
        all_revisions,
        page_size: 2,
        ..Scope::new(vec![
            "deployments.apps".into(),
            "widgets.example.com".into(),
        ])
    }
}

/// Audits `source`: (etcd key, revision, verdict) of every row, the outcome, what the
/// observer heard.
async fn audited(
    source: &Source,
    all_revisions: bool,
) -> (Vec<(String, bool, Verdict)>, Outcome, Heard) {
    let mut heard = Heard::default();
    let mut rows = vec![];
    let report = audit(
        source,
        &scope(all_revisions),
        &Policy::default(),
        &mut heard,
        |e, v| -> Result<(), std::convert::Infallible> {
            rows.push((e.key.clone(), e.current, v));
            Ok(())
        },
    )
    .await
    .unwrap();
    assert!(report.complete);
    assert_eq!(report.summary.values, rows.len() as u64);
    assert_eq!(heard.1, rows.len() as u64);
    (rows, report.outcome(), heard)
}

#[tokio::test]
async fn audit_and_recover_read_each_resource_where_kube_apiserver_keeps_it() {
    let Some(etcd) = Etcd::start() else { return };
    let deployment = |name: &str, generation| object("apps/v1", "Deployment", name, generation);
    for (key, value) in [
        ("deployments/default/web", deployment("web", 1)),
        ("deployments/default/web", deployment("web", 2)),
        ("deployments/default/api", deployment("api", 1)),
        (
            "example.com/widgets/default/w1",
            object("example.com/v1", "Widget", "w1", 1),
        ),
        (
            "example.com/widgets/default/broken",
            "k8s:enc:nope:v9:x:0000000000000000000000000000000000000000".into(),
        ),
        // Look-alikes kube-apiserver never writes: not part of either resource.
        ("apps/deployments/default/decoy", deployment("decoy", 1)),
        ("deploymentsx/default/decoy", deployment("decoy", 1)),
    ] {
        put(&etcd, &format!("/registry/{key}"), &value);
    }

    let live = Source::open(&Location::Etcd {
        endpoints: vec![etcd.endpoint.clone()],
        tls: TlsFiles::default(),
        timeout: Duration::from_secs(10),
    })
    .await
    .unwrap();
    assert_eq!(live.to_string(), format!("etcd {}", etcd.endpoint));
    let dir = ksec_testkit::tempdir();
    let file = dir.path().join("snap.db");
    etcd.snapshot(&file);
    let snapshot = Source::open(&Location::Snapshot(file.clone()))
        .await
        .unwrap();
    assert_eq!(
        snapshot.to_string(),
        format!("snapshot {} (SHA-256 checked)", file.display())
    );

    let current = vec![
        (
            "/registry/deployments/default/api".to_string(),
            true,
            Verdict::Plaintext,
        ),
        (
            "/registry/deployments/default/web".to_string(),
            true,
            Verdict::Plaintext,
        ),
        (
            "/registry/example.com/widgets/default/broken".to_string(),
            true,
            Verdict::Unreadable,
        ),
        (
            "/registry/example.com/widgets/default/w1".to_string(),
            true,
            Verdict::Plaintext,
        ),
    ];
    for (source, keys) in [(&live, (Some(2), Some(2))), (&snapshot, (None, None))] {
        let (rows, outcome, heard) = audited(source, false).await;
        assert_eq!(rows, current, "{source}");
        assert_eq!(outcome, Outcome::Incomplete, "{source}");
        assert_eq!(
            heard.0,
            [
                format!("start /registry/deployments/ {:?}", keys.0),
                "end /registry/deployments/".to_string(),
                format!("start /registry/example.com/widgets/ {:?}", keys.1),
                "end /registry/example.com/widgets/".to_string(),
            ],
            "{source}"
        );

        // With history: the first `web` too, no longer current.
        let (mut rows, _, heard) = audited(source, true).await;
        rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let mut want = current.clone();
        want.push((
            "/registry/deployments/default/web".to_string(),
            false,
            Verdict::Plaintext,
        ));
        want.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        assert_eq!(rows, want, "{source}");
        assert!(heard.0[0].ends_with(" None"), "{:?}", heard.0);
    }

    // Recovery with an EncryptionConfiguration that stores both in plaintext.
    let config = EncryptionConfiguration::from_text(
        b"apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
          - resources: [deployments.apps, widgets.example.com]\n  providers:\n  - identity: {}\n",
        "enc.yaml",
    )
    .unwrap();
    let decryptor = Decryptor::new(config);
    for source in [&live, &snapshot] {
        let mut out = vec![];
        let mut dropped = vec![];
        let report = recover(
            &decryptor,
            source,
            &scope(false),
            ManifestFormat::JsonList,
            &mut out,
            &mut (),
            |d| match d {
                Dropped::Failed {
                    key,
                    current,
                    error,
                } => dropped.push(format!("{key} {current} {error}")),
                other => panic!("{other:?}"),
            },
        )
        .await
        .unwrap();
        assert_eq!(
            (report.decrypted, report.failed, report.not_written),
            (3, 1, 0)
        );
        assert!(report.complete && !report.all_recovered());
        assert_eq!(dropped.len(), 1, "{dropped:?}");
        assert!(
            dropped[0].starts_with("/registry/example.com/widgets/default/broken true "),
            "{dropped:?}"
        );
        let list: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(list["kind"], "List");
        let names: Vec<(&str, &str, u64)> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap(),
                    o["metadata"]["generation"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("Deployment", "api", 1),
                ("Deployment", "web", 2),
                ("Widget", "w1", 1)
            ],
            "{source}"
        );

        // YAML: each document after a comment naming its key, revision and storage.
        let mut yaml = vec![];
        let report = recover(
            &decryptor,
            source,
            &scope(true),
            ManifestFormat::Yaml,
            &mut yaml,
            &mut (),
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!((report.decrypted, report.failed), (4, 1));
        let yaml = String::from_utf8(yaml).unwrap();
        let comments: Vec<&str> = yaml.lines().filter(|l| l.starts_with("# ")).collect();
        assert_eq!(comments.len(), 4, "{yaml}");
        assert!(
            comments.iter().any(
                |c| c.starts_with("# /registry/deployments/default/web revision ")
                    && c.contains(" (history): identity (plaintext")
            ),
            "{yaml}"
        );
        assert!(!yaml.contains("decoy"), "{yaml}");
    }
}
