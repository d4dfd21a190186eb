//! The two values kube-apiserver 1.27 and 1.28 wrote under KMS v2 (one with a DEK-source
//! type 0, a plain AES-GCM key; one with type 1, an HKDF seed), decrypted to their
//! known plaintext. The apiserver's test plugin "wraps" by base64-encoding.
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ksec_crypto::SecretBytes;
use ksec_etcd::decrypt::Decryptor;
use ksec_etcd::encryption_config::EncryptionConfiguration;
use ksec_etcd::storage::{classify, DekSource, Storage};
use ksec_keys::{Health, KeyBackend, KeyId, WrapContext, WrappedKey};
use std::sync::Arc;

/// The apiserver's test KMS plugin: its ciphertext is base64 of the plaintext.
#[derive(Debug)]
struct Base64Kms;

#[async_trait::async_trait]
impl KeyBackend for Base64Kms {
    fn kind(&self) -> &'static str {
        "test"
    }
    fn key_id(&self) -> KeyId {
        KeyId::new("1")
    }
    async fn wrap(&self, dek: &SecretBytes, _: &WrapContext) -> ksec_keys::Result<WrappedKey> {
        Ok(WrappedKey {
            key_id: self.key_id(),
            ciphertext: STANDARD.encode(dek.expose()).into_bytes(),
        })
    }
    async fn unwrap(&self, w: &WrappedKey, _: &WrapContext) -> ksec_keys::Result<SecretBytes> {
        Ok(SecretBytes::new(
            STANDARD.decode(&w.ciphertext).unwrap_or_default(),
        ))
    }
    async fn health(&self) -> ksec_keys::Result<Health> {
        Ok(Health {
            key_id: self.key_id(),
            detail: String::new(),
        })
    }
}

#[tokio::test]
async fn kms_v2_values_written_by_kube_apiserver_1_27_and_1_28_decrypt() {
    let Some(fixtures) = ksec_testkit::fixtures() else {
        return;
    };
    let dir = fixtures.join("kubernetes/kmsv2-legacy");
    let config = EncryptionConfiguration::from_text(
        b"apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - kms: {apiVersion: v2, name: kms-provider, endpoint: 'unix:///@kms-provider.sock'}\n",
        "enc.yaml",
    )
    .unwrap();
    let mut d = Decryptor::new(config);
    d.use_key_backend("kms-provider", Arc::new(Base64Kms))
        .unwrap();
    for (file, name, source) in [
        ("aesgcmkey", "dek-source-aes-gcm-key", DekSource::AesGcmKey),
        (
            "hkdfseed",
            "dek-source-hkdf-sha256-xnonce-aes-gcm-seed",
            DekSource::HkdfSeed,
        ),
    ] {
        let value = std::fs::read(dir.join(format!("{file}.bin"))).unwrap();
        let want = std::fs::read(dir.join(format!("{file}.plain.bin"))).unwrap();
        // The apiserver's integration test ran with this etcd prefix.
        let key = format!(
            "/43da1478-5e9c-4ef3-a92a-2b19d540c8a5/registry/secrets/kms-v2-legacy-data/{name}"
        );
        let stored = Storage::KmsV2 {
            name: "kms-provider".into(),
            key_id: "1".into(),
            dek_source: source,
        };
        assert_eq!(classify(&value).unwrap(), stored, "{file}");
        let out = d.decrypt("secrets", key.as_bytes(), &value).await.unwrap();
        assert_eq!(out.plaintext.expose(), &want[..], "{file}");
        assert_eq!(out.storage, stored, "{file}");
        // The plaintext is the Secret the test wrote.
        let ksec_etcd::object::Object::Secret(s) =
            ksec_etcd::object::decode(out.plaintext.expose()).unwrap()
        else {
            panic!("{file}: not a Secret")
        };
        assert_eq!(s.meta.name, name, "{file}");
        assert_eq!(s.meta.namespace, "kms-v2-legacy-data", "{file}");
        assert_eq!(s.type_, "Opaque", "{file}");
        assert_eq!(
            s.data.get("api_key").map(|v| v.expose().len()),
            Some(36),
            "{file}: the api_key UUID"
        );
        // The etcd key is the additional data: moved elsewhere, the value does not open.
        let moved = d
            .decrypt("secrets", b"/registry/secrets/elsewhere/x", &value)
            .await;
        assert!(moved.is_err(), "{file}");
    }
}
