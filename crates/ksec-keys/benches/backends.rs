//! Wrap/unwrap latency of each backend at 1 and 32 concurrent callers, next to a
//! direct call to the same service without the backend layer (its overhead), and
//! for the local backend next to one AES-256-GCM operation (the floor).
//!
//! Not a test: run `scripts/bench-keys` (it starts OpenBao, moto and a SoftHSM
//! token on 127.0.0.1 like the tests do). Backends whose peer is missing are skipped.
#![allow(clippy::unwrap_used)]
use base64::Engine;
use ksec_keys::awskms::{AwsKmsBackend, AwsKmsConfig};
use ksec_keys::local::{rotate_key_file, LocalBackend};
use ksec_keys::vault::{VaultAuth, VaultBackend, VaultConfig};
use ksec_keys::{KeyBackend, SecretBytes, WrapContext};
use ksec_testkit::bench::Stats;
use std::future::Future;
use std::sync::Arc;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Runs `op` `per_caller` times in each of `callers` concurrent tasks.
async fn measure<F, Fut>(callers: usize, per_caller: usize, op: F) -> Stats
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send,
{
    ksec_testkit::bench::measure(callers, per_caller, 5, op).await
}

fn row(name: &str, callers: usize, ours: &Stats, base: &Stats, base_name: &str) {
    println!(
        "{name:<22} c={callers:<3} ours p50 {:>9.1?} p99 {:>9.1?} {:>9.0}/s | {base_name:<14} p50 {:>9.1?} p99 {:>9.1?} {:>9.0}/s | p50 ratio {:.2}",
        ours.p50,
        ours.p99,
        ours.per_sec,
        base.p50,
        base.p99,
        base.per_sec,
        ours.p50.as_secs_f64() / base.p50.as_secs_f64().max(1e-12)
    );
}

async fn compare<FA, FutA, FB, FutB>(
    name: &str,
    base_name: &str,
    per_caller: [usize; 2],
    ours: FA,
    base: FB,
) where
    FA: Fn() -> FutA + Send + Sync + Clone + 'static,
    FutA: Future<Output = ()> + Send,
    FB: Fn() -> FutB + Send + Sync + Clone + 'static,
    FutB: Future<Output = ()> + Send,
{
    for (callers, n) in [(1, per_caller[0]), (32, per_caller[1])] {
        let o = measure(callers, n, ours.clone()).await;
        let b = measure(callers, n, base.clone()).await;
        row(name, callers, &o, &b, base_name);
    }
}

async fn bench_backend(
    name: &str,
    b: Arc<dyn KeyBackend>,
    direct_wrap: impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
        + Send
        + Sync
        + Clone
        + 'static,
    base_name: &str,
    n: [usize; 2],
) {
    let dek = ksec_crypto::rand::secret(32).unwrap();
    let ctx = WrapContext::new().with("bench", "1");
    let w = b.wrap(&dek, &ctx).await.unwrap();
    let (b1, d1, c1) = (b.clone(), dek.clone(), ctx.clone());
    compare(
        &format!("{name} wrap"),
        base_name,
        n,
        move || {
            let (b, d, c) = (b1.clone(), d1.clone(), c1.clone());
            async move {
                b.wrap(&d, &c).await.unwrap();
            }
        },
        direct_wrap.clone(),
    )
    .await;
    let (b2, c2) = (b.clone(), ctx.clone());
    compare(
        &format!("{name} unwrap"),
        base_name,
        n,
        move || {
            let (b, w, c) = (b2.clone(), w.clone(), c2.clone());
            async move {
                b.unwrap(&w, &c).await.unwrap();
            }
        },
        direct_wrap,
    )
    .await;
}

async fn local() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    rotate_key_file(&path).unwrap();
    let b: Arc<dyn KeyBackend> = Arc::new(LocalBackend::open(&path).unwrap());
    let key = ksec_crypto::rand::secret(32).unwrap();
    let floor = move || {
        let key = key.clone();
        Box::pin(async move {
            let nonce = ksec_crypto::rand::array::<12>().unwrap();
            std::hint::black_box(
                ksec_crypto::aead::seal(key.expose(), &nonce, b"aad", &[7u8; 32]).unwrap(),
            );
        }) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
    };
    bench_backend("local", b, floor, "one AES-GCM", [20_000, 2_000]).await;
}

async fn vault() {
    let Some(bin) = ksec_testkit::which("bao") else {
        return println!("vault: SKIPPED (no bao on PATH)");
    };
    let bao = ksec_testkit::openbao::OpenBao::start_with(bin);
    let addr = bao.addr.clone();
    let dir = tempfile::tempdir().unwrap();
    let tf = dir.path().join("t");
    std::fs::write(&tf, "root").unwrap();
    let mut cfg = VaultConfig::new(&addr, "ksec");
    cfg.auth = VaultAuth::Token {
        token_file: Some(tf),
        token_env: None,
    };
    let b: Arc<dyn KeyBackend> = Arc::new(VaultBackend::connect(&cfg).await.unwrap());
    let http = reqwest::Client::new();
    let url = format!("{addr}/v1/transit/encrypt/ksec");
    let body = format!(
        r#"{{"plaintext":"{}","associated_data":"{}"}}"#,
        B64.encode([7u8; 32]),
        B64.encode(WrapContext::new().with("bench", "1").aad())
    );
    let direct = move || {
        let (http, url, body) = (http.clone(), url.clone(), body.clone());
        Box::pin(async move {
            let r = http
                .post(url)
                .header("X-Vault-Token", "root")
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            r.bytes().await.unwrap();
        }) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
    };
    bench_backend("vault", b, direct, "direct HTTP", [300, 20]).await;
}

async fn aws() {
    let Some(bin) = ksec_testkit::which("moto_server") else {
        return println!("aws-kms: SKIPPED (no moto_server on PATH)");
    };
    let moto = ksec_testkit::moto::Moto::start_with(bin);
    let endpoint = moto.endpoint.clone();
    let http = reqwest::Client::new();
    let (h0, e0) = (http.clone(), endpoint.clone());
    let call = move |target: &'static str, body: String| {
        let (http, endpoint) = (h0.clone(), e0.clone());
        async move {
            let r = http
                .post(endpoint)
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amz-target", format!("TrentService.{target}"))
                .header("authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00")
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.bytes().await.unwrap()
        }
    };
    let created = call("CreateKey", "{}".into()).await;
    let v: serde_json::Value = serde_json::from_slice(&created).unwrap();
    let arn = v["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    let cfg = AwsKmsConfig {
        key: arn.clone(),
        endpoint: Some(endpoint.clone()),
        region: Some("us-east-1".into()),
        ..AwsKmsConfig::default()
    };
    let b: Arc<dyn KeyBackend> = Arc::new(AwsKmsBackend::connect(&cfg).await.unwrap());
    let body = format!(
        r#"{{"KeyId":"{arn}","Plaintext":"{}","EncryptionContext":{{"bench":"1"}}}}"#,
        B64.encode([7u8; 32])
    );
    let direct = move || {
        let body = body.clone();
        let f = call("Encrypt", body);
        Box::pin(async move {
            f.await;
        }) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
    };
    bench_backend("aws-kms", b, direct, "unsigned HTTP", [300, 10]).await;
}

#[cfg(feature = "pkcs11")]
async fn pkcs11() {
    use cryptoki::mechanism::{aead::GcmParams, Mechanism};
    use cryptoki::object::Attribute;
    use ksec_testkit::softhsm::{SoftHsm, MODULE as module};
    let (Some(util), Some(tool)) = (
        ksec_testkit::which("softhsm2-util"),
        ksec_testkit::which("pkcs11-tool"),
    ) else {
        return println!("pkcs11: SKIPPED (no softhsm2-util/pkcs11-tool)");
    };
    let hsm = SoftHsm::with(util, tool, "b", "1234");
    std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
    hsm.keygen("k");
    let cfg = ksec_keys::pkcs11::Pkcs11Config {
        module: module.into(),
        token_label: "b".into(),
        key_label: "k".into(),
        pin_file: Some(hsm.pin_file()),
        pin_env: None,
        sessions: 4,
        retry: Some(ksec_keys::RetryPolicy {
            attempts: 1,
            ..Default::default()
        }),
    };
    let b: Arc<dyn KeyBackend> =
        Arc::new(ksec_keys::pkcs11::Pkcs11Backend::open(cfg).await.unwrap());
    // Direct: one C_Encrypt on a session of our own, from a blocking thread.
    let ctx = cryptoki::context::Pkcs11::new(module).unwrap();
    let _ = ctx.initialize(cryptoki::context::CInitializeArgs::new(
        cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
    ));
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label() == "b")
        .unwrap();
    let sessions: Arc<std::sync::Mutex<Vec<cryptoki::session::Session>>> = Arc::new(
        std::sync::Mutex::new((0..4).map(|_| ctx.open_ro_session(slot).unwrap()).collect()),
    );
    let key = {
        let s = ctx.open_ro_session(slot).unwrap();
        s.find_objects(&[Attribute::Label(b"k".to_vec())]).unwrap()[0]
    };
    let sem = Arc::new(tokio::sync::Semaphore::new(4));
    let direct = move || {
        let (sessions, sem) = (sessions.clone(), sem.clone());
        Box::pin(async move {
            let _p = sem.acquire_owned().await.unwrap();
            tokio::task::spawn_blocking(move || {
                let s = sessions.lock().unwrap().pop().unwrap();
                let mut iv = [1u8; 12];
                let p = GcmParams::new(&mut iv, b"aad", 128u64.into()).unwrap();
                s.encrypt(&Mechanism::AesGcm(p), key, &[7u8; 32]).unwrap();
                sessions.lock().unwrap().push(s);
            })
            .await
            .unwrap();
        }) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
    };
    bench_backend("pkcs11", b, direct, "direct C_Encrypt", [2_000, 200]).await;
}

#[cfg(not(feature = "pkcs11"))]
async fn pkcs11() {
    println!("pkcs11: SKIPPED (build with --features pkcs11)");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("ksec-keys backends: latency per call, ours next to the baseline (p50 ratio = ours / baseline)");
        local().await;
        pkcs11().await;
        vault().await;
        aws().await;
    });
    let _ = SecretBytes::default();
}
