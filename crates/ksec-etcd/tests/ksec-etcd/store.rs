//! The read-only client and the snapshot reader on a real etcd 3.4: a store written here
//! with `etcdctl` (small and 1 MiB binary values, rewrites, deletions, keys just outside
//! the prefix) is read back live, page by page, with its history, and from an `etcdctl
//! snapshot save` file; every read must match what was written revision by revision
//! (value, mod/create revision, version, current or not), and the current values must
//! match `etcdctl get --prefix`.
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ksec_etcd::etcd::{EtcdClient, TlsFiles};
use ksec_etcd::snapshot::Snapshot;
use ksec_etcd::source::Source;
use ksec_testkit::etcd::Etcd;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const PREFIX: &[u8] = b"/registry/secrets/";

/// One stored value: what etcd should report for it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Stored {
    key: String,
    mod_revision: i64,
    create_revision: i64,
    version: i64,
    current: bool,
    value: Vec<u8>,
}

/// What the test wrote, revision by revision: a model of etcd's MVCC store.
#[derive(Default)]
struct Model {
    all: Vec<Stored>,
    /// Live keys: create revision and version.
    live: BTreeMap<String, (i64, i64)>,
}

impl Model {
    fn retire(&mut self, key: &str) {
        for s in self.all.iter_mut().filter(|s| s.key == key) {
            s.current = false;
        }
    }
    fn put(&mut self, revision: i64, key: &str, value: &[u8]) {
        self.retire(key);
        let (create, version) = match self.live.get(key) {
            Some(&(c, v)) => (c, v + 1),
            None => (revision, 1),
        };
        self.live.insert(key.to_string(), (create, version));
        self.all.push(Stored {
            key: key.to_string(),
            mod_revision: revision,
            create_revision: create,
            version,
            current: true,
            value: value.to_vec(),
        });
    }
    fn delete(&mut self, key: &str) {
        self.retire(key);
        self.live.remove(key);
    }
    /// What a listing of the prefix returns, in key order.
    fn current(&self) -> Vec<Stored> {
        let mut v: Vec<Stored> = self
            .all
            .iter()
            .filter(|s| s.current && s.key.as_bytes().starts_with(PREFIX))
            .cloned()
            .collect();
        v.sort();
        v
    }
    /// Every value under the prefix, by key and revision.
    fn history(&self) -> Vec<Stored> {
        let mut v: Vec<Stored> = self
            .all
            .iter()
            .filter(|s| s.key.as_bytes().starts_with(PREFIX))
            .cloned()
            .collect();
        v.sort();
        v
    }
}

/// `etcdctl -w json ARGS` with `stdin`; the revision of the answer's header.
fn etcdctl(etcd: &Etcd, args: &[&str], stdin: &[u8]) -> i64 {
    let mut child = Command::new(etcd.etcdctl_path())
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", etcd.endpoint))
        .args(["-w", "json"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "etcdctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    let rev = &v["header"]["revision"];
    rev.as_i64()
        .or_else(|| rev.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("no revision in {v}"))
}

/// One transaction of `put KEY VALUE` / `del KEY` lines (ASCII values without spaces).
fn txn(etcd: &Etcd, ops: &[String]) -> i64 {
    let body = format!("\n{}\n\n\n", ops.join("\n"));
    etcdctl(etcd, &["txn"], body.as_bytes())
}

fn small_key(i: usize) -> String {
    format!("/registry/secrets/ns{}/s{i:04}", i % 7)
}

fn small_value(i: usize, round: usize) -> String {
    format!("v{round}-{i:04}-{}", "x".repeat((i * 37) % 2000))
}

/// Bytes of every value, zero and 0xff included.
fn binary(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn stored(r: ksec_etcd::Record) -> Stored {
    Stored {
        key: String::from_utf8(r.key.to_vec()).unwrap(),
        mod_revision: r.mod_revision,
        create_revision: r.create_revision,
        version: r.version,
        current: r.current,
        value: r.value.to_vec(),
    }
}

/// Everything a source yields under the prefix, in the order it came, and the batches.
async fn read(source: &Source, all_revisions: bool, page_size: usize) -> (Vec<Stored>, usize) {
    let mut scan = source.scan(PREFIX, all_revisions, page_size).await.unwrap();
    let (mut out, mut batches) = (vec![], 0);
    while let Some(batch) = scan.next_batch().await.unwrap() {
        batches += 1;
        out.extend(batch.into_iter().map(stored));
    }
    (out, batches)
}

fn sorted(mut v: Vec<Stored>) -> Vec<Stored> {
    v.sort();
    v
}

/// Compares without printing megabytes of values.
#[track_caller]
fn same(got: &[Stored], want: &[Stored], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: number of values");
    for (g, w) in got.iter().zip(want) {
        assert!(
            g == w,
            "{what}: got {}@{} (created {}, version {}, current {}, {} bytes), want {}@{} (created {}, version {}, current {}, {} bytes)",
            g.key, g.mod_revision, g.create_revision, g.version, g.current, g.value.len(),
            w.key, w.mod_revision, w.create_revision, w.version, w.current, w.value.len()
        );
    }
}

#[tokio::test]
async fn listings_history_and_snapshots_of_a_real_etcd_match_what_was_written() {
    let Some(etcd) = Etcd::start() else { return };
    let mut model = Model::default();

    // Keys next to the prefix, which no read of it may return.
    for key in [
        "/registry/secrets",
        "/registry/secrets0/a",
        "/registry/configmaps/ns/a",
    ] {
        let rev = etcdctl(&etcd, &["put", key], b"outside");
        model.put(rev, key, b"outside");
    }
    // 300 small values, 100 per transaction (one revision each).
    for chunk in (0..300).collect::<Vec<_>>().chunks(100) {
        let ops: Vec<String> = chunk
            .iter()
            .map(|&i| format!("put {} {}", small_key(i), small_value(i, 0)))
            .collect();
        let rev = txn(&etcd, &ops);
        for &i in chunk {
            model.put(rev, &small_key(i), small_value(i, 0).as_bytes());
        }
    }
    // Twelve 1 MiB binary values: more than one listing page by bytes.
    for j in 0..12 {
        let key = format!("/registry/secrets/big/b{j:02}");
        let value = binary(j, 1 << 20);
        let rev = etcdctl(&etcd, &["put", &key], &value);
        model.put(rev, &key, &value);
    }
    // Rewrites (twice for some keys), then deletions.
    for (round, n) in [(1, 20), (2, 10)] {
        let ops: Vec<String> = (0..n)
            .map(|i| format!("put {} {}", small_key(i), small_value(i, round)))
            .collect();
        let rev = txn(&etcd, &ops);
        for i in 0..n {
            model.put(rev, &small_key(i), small_value(i, round).as_bytes());
        }
    }
    let ops: Vec<String> = (290..300)
        .map(|i| format!("del {}", small_key(i)))
        .collect();
    txn(&etcd, &ops);
    for i in 290..300 {
        model.delete(&small_key(i));
    }
    let (current, history) = (model.current(), model.history());
    assert_eq!(current.len(), 290 + 12);
    assert_eq!(history.len(), 300 + 12 + 20 + 10);

    let client = EtcdClient::connect(
        std::slice::from_ref(&etcd.endpoint),
        &TlsFiles::default(),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let (count, _) = client.count(PREFIX).await.unwrap();
    assert_eq!(count, current.len() as u64);
    let live = Source::Etcd(client.clone());

    // The listing, in key order, in pages: 7 keys first, then pages by bytes.
    let (got, pages) = read(&live, false, 7).await;
    same(&got, &current, "live listing");
    assert!(pages >= 3, "12 MiB of values in {pages} pages");
    // The same as etcdctl's own reading.
    let out = etcd.etcdctl(&["get", "/registry/secrets/", "--prefix", "-w", "json"]);
    assert!(out.status.success());
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    let theirs: Vec<(Vec<u8>, Vec<u8>)> = v["kvs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            let field = |f: &str| STANDARD.decode(kv[f].as_str().unwrap_or("")).unwrap();
            (field("key"), field("value"))
        })
        .collect();
    let ours: Vec<(Vec<u8>, Vec<u8>)> = got
        .iter()
        .map(|s| (s.key.as_bytes().to_vec(), s.value.clone()))
        .collect();
    assert!(ours == theirs, "the listing differs from etcdctl get");

    // History: every revision still kept, deleted keys included, none current but the last.
    let (got, _) = read(&live, true, 7).await;
    same(&sorted(got), &history, "live history");

    // A snapshot: the same, with the SHA-256 trailer checked.
    let dir = ksec_testkit::tempdir();
    let path = dir.path().join("snap.db");
    etcd.snapshot(&path);
    let snap = Source::Snapshot(Snapshot::open(&path).unwrap());
    let Source::Snapshot(s) = &snap else {
        unreachable!()
    };
    assert!(s.hash_checked());
    let (got, _) = read(&snap, false, 7).await;
    same(&sorted(got), &current, "snapshot listing");
    let (got, _) = read(&snap, true, 7).await;
    same(&sorted(got), &history, "snapshot history");

    // A listing is one consistent view: writes between its pages do not show.
    let mut pages = client.latest(PREFIX, 5);
    let mut got: Vec<Stored> = pages
        .next_page()
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(stored)
        .collect();
    assert_eq!(got.len(), 5);
    etcdctl(&etcd, &["put", "/registry/secrets/zz/new"], b"late");
    etcdctl(&etcd, &["put", &small_key(280)], b"rewritten-late");
    etcdctl(&etcd, &["del", &small_key(281)], b"");
    while let Some(page) = pages.next_page().await.unwrap() {
        got.extend(page.into_iter().map(stored));
    }
    same(&got, &current, "a listing with writes between its pages");
}
