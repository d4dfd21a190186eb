//! PKCS#11 against a SoftHSM 2 token that the test initializes itself.
use super::common;
use ksec_keys::pkcs11::Pkcs11Backend;
use ksec_keys::{KeyBackend, KeyError, Pkcs11Config, RetryPolicy, WrapContext};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

fn run(cmd: &Path, args: &[&str], conf: &Path) {
    let out = Command::new(cmd)
        .args(args)
        .env("SOFTHSM2_CONF", conf)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        cmd.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn config(label: &str, pin_file: PathBuf) -> Pkcs11Config {
    Pkcs11Config {
        module: MODULE.into(),
        token_label: "ksec".into(),
        key_label: label.into(),
        pin_file: Some(pin_file),
        pin_env: None,
        sessions: 4,
        retry: RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        },
    }
}

// One test function: SoftHSM reads SOFTHSM2_CONF once per process, and the
// PKCS#11 login state is per process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn softhsm_token() {
    let Some(util) = ksec_testkit::peer("softhsm2-util") else {
        return;
    };
    let Some(tool) = ksec_testkit::peer("pkcs11-tool") else {
        return;
    };
    if !Path::new(MODULE).exists() {
        let _: Option<()> = ksec_testkit::missing("libsofthsm2.so", MODULE);
        return;
    }
    let dir = ksec_testkit::tempdir();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    run(
        &util,
        &[
            "--init-token",
            "--free",
            "--label",
            "ksec",
            "--pin",
            "1234",
            "--so-pin",
            "5678",
        ],
        &conf,
    );
    for label in ["kek-1", "kek-2"] {
        run(
            &tool,
            &[
                "--module",
                MODULE,
                "--token-label",
                "ksec",
                "--login",
                "--pin",
                "1234",
                "--keygen",
                "--key-type",
                "aes:32",
                "--label",
                label,
            ],
            &conf,
        );
    }
    let pin = dir.path().join("pin");
    std::fs::write(&pin, "1234\n").unwrap();
    let bad_pin = dir.path().join("bad-pin");
    std::fs::write(&bad_pin, "9999\n").unwrap();

    // A wrong PIN first (once logged in, the token no longer asks for one).
    let e = Pkcs11Backend::open(config("kek-1", bad_pin))
        .await
        .unwrap_err();
    assert!(matches!(e, KeyError::Auth { .. }), "{e}");
    assert!(!e.to_string().contains("9999"), "{e}");

    let b = Pkcs11Backend::open(config("kek-1", pin.clone()))
        .await
        .unwrap();
    assert!(
        b.key_id()
            .as_str()
            .starts_with("pkcs11:token=ksec;object=kek-1;kcv="),
        "{}",
        b.key_id()
    );
    let ctx = WrapContext::new().with("ns", "default");
    let dek = common::marked_dek();
    let w1 = b.wrap(&dek, &ctx).await.unwrap();
    assert!(
        !w1.ciphertext.windows(8).any(|w| w == b"SECRET-D"),
        "the DEK must not appear in clear"
    );
    assert_eq!(b.unwrap(&w1, &ctx).await.unwrap(), dek);

    let e = b
        .unwrap(&w1, &WrapContext::new().with("ns", "x"))
        .await
        .unwrap_err();
    assert!(matches!(e, KeyError::Unwrap { .. }), "{e}");
    let mut t = w1.clone();
    let n = t.ciphertext.len();
    t.ciphertext[n - 5] ^= 0x40;
    let e = b.unwrap(&t, &ctx).await.unwrap_err();
    assert!(matches!(e, KeyError::Unwrap { .. }), "{e}");
    assert!(!format!("{e:?}").contains("SECRET-DEK"));

    // Rotation: a backend on the new key has another id and still unwraps what
    // the old key wrapped (found by its check value).
    let b2 = Pkcs11Backend::open(config("kek-2", pin.clone()))
        .await
        .unwrap();
    assert_ne!(b2.key_id(), b.key_id());
    assert_eq!(b2.unwrap(&w1, &ctx).await.unwrap(), dek);
    let w2 = b2.wrap(&dek, &ctx).await.unwrap();
    assert_eq!(b.unwrap(&w2, &ctx).await.unwrap(), dek);

    // Missing key, missing token, missing PIN: errors that name what to fix.
    let e = Pkcs11Backend::open(config("nope", pin.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(e, KeyError::Key { .. }) && e.to_string().contains("pkcs11-tool --keygen"),
        "{e}"
    );
    let mut c = config("kek-1", pin.clone());
    c.token_label = "other".into();
    let e = Pkcs11Backend::open(c).await.unwrap_err();
    assert!(
        e.to_string().contains("pkcs11.token_label") && e.to_string().contains("ksec"),
        "{e}"
    );
    let mut c = config("kek-1", pin.clone());
    c.pin_file = None;
    c.pin_env = Some("KSEC_TEST_NO_SUCH_PIN".into());
    let e = Pkcs11Backend::open(c).await.unwrap_err();
    assert!(e.to_string().contains("pkcs11.pin_env"), "{e}");

    b.health().await.unwrap();
    common::concurrent_round_trips(Arc::new(b)).await;
}
