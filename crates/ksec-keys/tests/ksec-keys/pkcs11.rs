//! PKCS#11 against a SoftHSM 2 token that the test initializes itself.
use super::common;
use ksec_keys::pkcs11::Pkcs11Backend;
use ksec_keys::pkcs11::Pkcs11Config;
use ksec_keys::{KeyBackend, KeyError, RetryPolicy, WrapContext};
use ksec_testkit::softhsm::{SoftHsm, MODULE};
use std::path::PathBuf;
use std::sync::Arc;

fn config(label: &str, pin_file: PathBuf) -> Pkcs11Config {
    Pkcs11Config {
        module: MODULE.into(),
        token_label: "ksec".into(),
        key_label: label.into(),
        pin_file: Some(pin_file),
        pin_env: None,
        sessions: 4,
        retry: Some(RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }),
    }
}

// One test function: SoftHSM reads SOFTHSM2_CONF once per process, and the
// PKCS#11 login state is per process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn softhsm_token() {
    let Some(hsm) = SoftHsm::new("ksec", "1234") else {
        return;
    };
    std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
    hsm.keygen("kek-1");
    hsm.keygen("kek-2");
    let dir = hsm.dir();
    let pin = hsm.pin_file();
    let bad_pin = dir.join("bad-pin");
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
