use super::common;
use ksec_keys::local::{rotate_key_file, LocalBackend, LocalConfig};
use ksec_keys::{BackendConfig, KeyBackend, KeyError, WrapContext};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

#[tokio::test]
async fn key_file_rotation_permissions_and_concurrency() {
    let dir = ksec_testkit::tempdir();
    let path = dir.path().join("keys");
    let id1 = rotate_key_file(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let b1 = LocalBackend::open(&path).unwrap();
    assert_eq!(b1.key_id(), id1);
    let ctx = WrapContext::new().with("resource", "secrets");
    let w1 = b1.wrap(&common::marked_dek(), &ctx).await.unwrap();

    let id2 = rotate_key_file(&path).unwrap();
    assert_ne!(id1, id2);
    let b2 = LocalBackend::open(&path).unwrap();
    assert_eq!(b2.key_id(), id2);
    assert_eq!(b2.unwrap(&w1, &ctx).await.unwrap(), common::marked_dek());
    let w2 = b2.wrap(&common::marked_dek(), &ctx).await.unwrap();
    assert_eq!(w2.key_id, id2);

    // Group/world-readable files are refused unless explicitly allowed.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = LocalBackend::open(&path).unwrap_err();
    assert!(
        matches!(e, KeyError::KeyFile { .. }) && e.to_string().contains("chmod 600"),
        "{e}"
    );
    let cfg = BackendConfig::from_yaml(
        &format!(
            "local:\n  key_file: {}\n  allow_insecure_permissions: true\n",
            path.display()
        ),
        None,
    )
    .unwrap();
    let b: Arc<dyn KeyBackend> = cfg.build().await.unwrap();
    assert_eq!(b.key_id(), id2);
    common::concurrent_round_trips(b).await;

    let e = LocalBackend::from_config(&LocalConfig {
        key_file: dir.path().join("missing"),
        allow_insecure_permissions: false,
    })
    .unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
}
