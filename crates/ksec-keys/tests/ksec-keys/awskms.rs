//! AWS KMS against moto's KMS/STS server, with boto3 as the independent client.
use super::common;
use ksec_keys::awskms::{AwsKmsBackend, AwsKmsConfig};
use ksec_keys::{KeyBackend, KeyError, WrapContext, WrappedKey};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SETUP: &str = r#"
import sys, json, base64, boto3
kms = boto3.client("kms", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
cmd = sys.argv[2]
if cmd == "create":
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    if len(sys.argv) > 3:
        kms.create_alias(AliasName=sys.argv[3], TargetKeyId=arn)
    print(arn)
elif cmd == "repoint":
    kms.update_alias(AliasName=sys.argv[3], TargetKeyId=sys.argv[4])
elif cmd == "disable":
    kms.disable_key(KeyId=sys.argv[3].rsplit("/", 1)[-1])
elif cmd == "decrypt":
    out = kms.decrypt(CiphertextBlob=base64.b64decode(sys.argv[3]),
                      EncryptionContext=json.loads(sys.argv[4]))
    print(base64.b64encode(out["Plaintext"]).decode())
elif cmd == "encrypt":
    out = kms.encrypt(KeyId=sys.argv[3], Plaintext=base64.b64decode(sys.argv[4]),
                      EncryptionContext=json.loads(sys.argv[5]))
    print(base64.b64encode(out["CiphertextBlob"]).decode())
"#;

/// moto (the shared fixture) with boto3 as the independent client.
struct Moto {
    py: PathBuf,
    server: ksec_testkit::moto::Moto,
    endpoint: String,
}

impl Moto {
    fn start() -> Option<Self> {
        let server = ksec_testkit::moto::Moto::start()?;
        let py = ksec_testkit::python_with("KSEC_PYTHON", "boto3")?;
        Some(Self {
            py,
            endpoint: server.endpoint.clone(),
            server,
        })
    }

    fn py(&self, args: &[&str]) -> String {
        let out = Command::new(&self.py)
            .arg("-c")
            .arg(SETUP)
            .arg(&self.endpoint)
            .args(args)
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "boto3 {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn config(&self, key: &str) -> AwsKmsConfig {
        AwsKmsConfig {
            key: key.into(),
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            retry: Some(common::fast_retry()),
            ..AwsKmsConfig::default()
        }
    }
}

// One test function: the AWS credential chain reads process-wide environment
// variables, which parallel tests must not race on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_against_moto() {
    let Some(mut moto) = Moto::start() else {
        return;
    };
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::remove_var("AWS_SESSION_TOKEN");
    std::env::remove_var("AWS_PROFILE");
    std::env::set_var("AWS_ENDPOINT_URL_STS", &moto.endpoint);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;

    let arn_a = moto.py(&["create", "alias/ksec"]);
    let arn_b = moto.py(&["create"]);

    // Key ARN, a fixed context pair plus the call's context.
    let mut cfg = moto.config(&arn_a);
    cfg.encryption_context.insert("cluster".into(), "c1".into());
    let b = AwsKmsBackend::connect(&cfg).await.unwrap();
    assert_eq!(b.key_id().as_str(), arn_a);
    let ctx = WrapContext::new().with("ns", "default");
    let dek = common::marked_dek();
    let w = b.wrap(&dek, &ctx).await.unwrap();
    assert_eq!(w.key_id.as_str(), arn_a);
    assert_eq!(b.unwrap(&w, &ctx).await.unwrap(), dek);

    // boto3 decrypts what we wrapped, and we unwrap what boto3 encrypted.
    let full_ctx = r#"{"cluster": "c1", "ns": "default"}"#;
    let plain = moto.py(&["decrypt", &b64.encode(&w.ciphertext), full_ctx]);
    assert_eq!(b64.decode(plain).unwrap(), dek.expose());
    let theirs = moto.py(&["encrypt", &arn_a, &b64.encode(dek.expose()), full_ctx]);
    let theirs = WrappedKey {
        key_id: b.key_id(),
        ciphertext: b64.decode(theirs).unwrap(),
    };
    assert_eq!(b.unwrap(&theirs, &ctx).await.unwrap(), dek);

    // Encryption context mismatch and tampering are refused.
    let e = b
        .unwrap(&w, &WrapContext::new().with("ns", "other"))
        .await
        .unwrap_err();
    assert!(matches!(e, KeyError::Unwrap { .. }), "{e}");
    let e = b.unwrap(&w, &WrapContext::new()).await.unwrap_err();
    assert!(matches!(e, KeyError::Unwrap { .. }), "{e}");
    let mut t = w.clone();
    let n = t.ciphertext.len();
    t.ciphertext[n - 1] ^= 1;
    let e = b.unwrap(&t, &ctx).await.unwrap_err();
    assert!(matches!(e, KeyError::Unwrap { .. }), "{e}");
    assert!(!format!("{e} {e:?}").contains("SECRET-DEK"));

    // An alias: the key id is the ARN it points to, and changes when repointed;
    // what the old key wrapped still unwraps.
    let alias = AwsKmsBackend::connect(&moto.config("alias/ksec"))
        .await
        .unwrap();
    assert_eq!(alias.key_id().as_str(), arn_a);
    let wa = alias.wrap(&dek, &ctx).await.unwrap();
    moto.py(&["repoint", "alias/ksec", &arn_b]);
    alias.health().await.unwrap();
    assert_eq!(alias.key_id().as_str(), arn_b);
    assert_eq!(alias.unwrap(&wa, &ctx).await.unwrap(), dek);
    assert_eq!(alias.wrap(&dek, &ctx).await.unwrap().key_id.as_str(), arn_b);

    // Role assumption through STS (moto's), then KMS with the temporary credentials.
    let mut rc = moto.config(&arn_b);
    rc.role_arn = Some("arn:aws:iam::123456789012:role/ksec".into());
    let assumed = AwsKmsBackend::connect(&rc).await.unwrap();
    let wr = assumed.wrap(&dek, &ctx).await.unwrap();
    assert_eq!(assumed.unwrap(&wr, &ctx).await.unwrap(), dek);

    // A missing key and a disabled key are key errors.
    let e = AwsKmsBackend::connect(
        &moto.config("arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, KeyError::Key { .. }), "{e}");
    let arn_c = moto.py(&["create"]);
    moto.py(&["disable", &arn_c]);
    let e = AwsKmsBackend::connect(&moto.config(&arn_c))
        .await
        .unwrap_err();
    assert!(
        matches!(e, KeyError::Key { .. }) && e.to_string().contains("Disabled"),
        "{e}"
    );

    let mut patient = moto.config(&arn_b);
    patient.retry = Some(common::patient_retry());
    common::concurrent_round_trips(Arc::new(AwsKmsBackend::connect(&patient).await.unwrap())).await;

    // The peer stops mid-run: a fast transient error, no hang.
    moto.server.guard.stop();
    let start = Instant::now();
    let e = b.unwrap(&w, &ctx).await.unwrap_err();
    assert!(matches!(e, KeyError::Unavailable { .. }), "{e}");
    assert!(start.elapsed() < Duration::from_secs(3));

    // A service that accepts and never answers: per-attempt timeouts.
    let silent = common::Silent::start();
    let mut sc = moto.config(&arn_a);
    sc.endpoint = Some(format!("http://127.0.0.1:{}", silent.port));
    let s = AwsKmsBackend::new(&sc).unwrap();
    let start = Instant::now();
    let e = s.wrap(&dek, &ctx).await.unwrap_err();
    assert!(matches!(e, KeyError::Timeout { .. }), "{e}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn config_errors_name_fields() {
    let e = AwsKmsBackend::new(&AwsKmsConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("aws_kms.key"), "{e}");
    let e = AwsKmsBackend::new(&AwsKmsConfig {
        key: "k".into(),
        region: Some("us-east-1".into()),
        endpoint: Some("not a url".into()),
        ..AwsKmsConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("aws_kms.endpoint"), "{e}");
}
