//! Cold start over a large cluster: time for the controller to bring N SealedSecrets
//! (10 values each) to Synced=True, with 1 and with 5 registered keys, next to the floor:
//! the raw cost of the RSA-4096 decryptions that cannot be avoided (one per value),
//! spread over every core.
//!
//! Not a test and not in CI: `scripts/bench-controller` (or `cargo bench -p
//! ksec-controller --bench cold_start`). `KSEC_BENCH_OBJECTS` changes N (default 5000).
//! The Kubernetes API is the in-memory fake of the integration tests, so the numbers are
//! the controller's own cost plus a cheap API; a real API server adds network latency
//! (and client-go-style QPS limits in Bitnami's controller, which ksec does not have).
//! There is no Bitnami controller to run here (it needs a cluster), so there is no peer
//! ratio; the floor is the comparison.
// A benchmark over fixed inputs sharing the tests' fake API: a failure is a bug to see at once.
#![allow(clippy::unwrap_used, unreachable_pub)]

use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ksec_controller::{Config, Handles};
use ksec_crypto::rsa::RsaPrivateKey;
use ksec_testkit::cluster::FakeApi;
use serde_json::json;

const VALUES: usize = 10;

fn testdata_key(name: &str) -> RsaPrivateKey {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/keys")
        .join(name);
    RsaPrivateKey::from_pem(&std::fs::read(p).expect("test key")).expect("test key")
}

fn key_secret(name: &str, key: &RsaPrivateKey, age_days: u64) -> serde_json::Value {
    let cert = ksec_crypto::x509::self_signed_sealing_cert(
        key,
        "sealed-secret",
        SystemTime::now() - Duration::from_secs(age_days * 86400),
        Duration::from_secs(3650 * 86400),
    )
    .expect("cert");
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": "kube-system",
                     "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}},
        "data": {"tls.crt": STANDARD.encode(cert.to_pem()),
                 "tls.key": STANDARD.encode(key.to_pkcs1_pem().expect("pem").as_bytes())}
    })
}

fn sealed_secret(i: usize, key: &RsaPrivateKey) -> serde_json::Value {
    let ns = format!("ns{}", i % 50);
    let name = format!("s{i}");
    let label = format!("{ns}/{name}");
    let mut enc = serde_json::Map::new();
    for v in 0..VALUES {
        let value = format!("value-{i}-{v}-{}", "x".repeat(24));
        let sealed = ksec_seal::hybrid::seal(key.public_key(), value.as_bytes(), label.as_bytes())
            .expect("seal");
        enc.insert(
            format!("k{v}"),
            json!(ksec_seal::hybrid::to_base64(&sealed)),
        );
    }
    json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"encryptedData": enc, "template": {"metadata": {"name": name, "namespace": ns}}}})
}

/// Seconds per RSA-4096 OAEP decryption on one core, measured on `samples` values.
fn rsa_cost(key: &RsaPrivateKey, samples: usize) -> f64 {
    let sealed: Vec<Vec<u8>> = (0..samples)
        .map(|i| {
            ksec_seal::hybrid::seal(key.public_key(), format!("v{i}").as_bytes(), b"ns/n")
                .expect("seal")
        })
        .collect();
    let start = Instant::now();
    for s in &sealed {
        ksec_seal::hybrid::open(key, s, b"ns/n").expect("open");
    }
    start.elapsed().as_secs_f64() / samples as f64
}

fn synced_count(fake: &FakeApi) -> usize {
    fake.count("bitnami.com/sealedsecrets", |s| {
        s["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Synced" && c["status"] == "True")
        })
    })
}

/// Seconds per RSA-4096 decryption when every core decrypts at once, measured now (the
/// machine may be shared: this is the floor under the current load).
fn parallel_rsa_cost(key: &RsaPrivateKey, cores: usize, per_core: usize) -> f64 {
    let sealed = ksec_seal::hybrid::seal(key.public_key(), b"value", b"ns/n").expect("seal");
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| {
                for _ in 0..per_core {
                    ksec_seal::hybrid::open(key, &sealed, b"ns/n").expect("open");
                }
            });
        }
    });
    start.elapsed().as_secs_f64() / (cores * per_core) as f64
}

fn scenario(
    rt: &tokio::runtime::Runtime,
    keys: &[RsaPrivateKey],
    seal_with: &dyn Fn(usize) -> usize,
    n: usize,
) -> f64 {
    let fake = FakeApi::new();
    for (i, k) in keys.iter().enumerate() {
        // Key 0 is the oldest, the last one the newest (the one that seals new values).
        fake.insert(
            "core/secrets",
            key_secret(
                &format!("sealed-secrets-key{i}"),
                k,
                (keys.len() - i) as u64 * 30,
            ),
        );
    }
    for i in 0..n {
        fake.insert(
            "bitnami.com/sealedsecrets",
            sealed_secret(i, &keys[seal_with(i)]),
        );
    }
    let config = Config {
        namespace: "kube-system".into(),
        identity: "bench".into(),
        key_renew_period: Duration::ZERO,
        ..Config::default()
    };
    let handles = Handles::new(&config);
    let metrics = handles.metrics.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let start = Instant::now();
    let task = rt.spawn(ksec_controller::run_with(
        fake.client(),
        config,
        handles,
        None,
        async move {
            let _ = rx.await;
        },
    ));
    loop {
        std::thread::sleep(Duration::from_millis(200));
        if synced_count(&fake) == n {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(3600), "no progress");
    }
    let took = start.elapsed().as_secs_f64();
    let text = metrics.render();
    let reconciles = text
        .lines()
        .find_map(|l| l.strip_prefix("sealed_secrets_controller_unseal_requests_total "))
        .unwrap_or("?")
        .to_string();
    eprintln!("  ({reconciles} reconciliations for {n} SealedSecrets)");
    let _ = tx.send(());
    let _ = rt.block_on(task);
    took
}

fn main() {
    let n: usize = std::env::var("KSEC_BENCH_OBJECTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let cores = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _in_runtime = rt.enter(); // kube::Client spawns its buffer task when created
    let a = testdata_key("test-key-a.pem");
    let b = testdata_key("test-key-b.pem");
    eprintln!("generating 3 more RSA-4096 keys…");
    let mut five = vec![a.clone(), b.clone()];
    for _ in 0..3 {
        five.push(RsaPrivateKey::generate(4096).expect("key"));
    }

    let per_op = rsa_cost(&a, 200);
    let ops = (n * VALUES) as f64;
    println!("cold start: {n} SealedSecrets x {VALUES} values, {cores} cores");
    println!(
        "one RSA-4096 decryption on one idle core: {:.2} ms",
        per_op * 1e3
    );
    let run = |label: &str, keys: &[RsaPrivateKey], seal_with: &dyn Fn(usize) -> usize| {
        // The floor is measured right before each run: the machine may be shared.
        let floor = parallel_rsa_cost(&a, cores, 100) * ops;
        let took = scenario(&rt, keys, seal_with, n);
        println!(
            "{label:<32} {took:>7.1} s   floor {floor:>6.1} s ({ops} decryptions on {cores} cores, measured just before)   {:.2}x floor",
            took / floor
        );
    };
    run("1 key", std::slice::from_ref(&a), &|_| 0);
    // Objects spread over 5 keys (a cluster after 4 renewals), no hints (cold start).
    run("5 keys, objects spread evenly", &five, &|i| i % 5);
    // Everything sealed with the oldest key: newest-first guesses wrong until the
    // preference learns.
    run("5 keys, all sealed with oldest", &five, &|_| 0);
    println!(
        "(trying keys newest-first on every value would need ~3x the decryptions with 5 evenly spread keys, 5x when all are sealed with the oldest)"
    );
}
