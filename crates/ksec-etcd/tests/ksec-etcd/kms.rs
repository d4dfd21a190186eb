//! KMS values, with data keys unwrapped by a key backend instead of the plugin: the two
//! values kube-apiserver 1.27 and 1.28 wrote under KMS v2 (one with a DEK-source type 0,
//! a plain AES-GCM key; one with type 1, an HKDF seed) decrypted to their known
//! plaintext, and KMS v1 values (AES-GCM, and AES-CBC as written before 1.25). The
//! apiserver's test plugin "wraps" by base64-encoding; so does the backend here.
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ksec_crypto::{aead, cbc, SecretBytes};
use ksec_etcd::decrypt::Decryptor;
use ksec_etcd::encryption_config::EncryptionConfiguration;
use ksec_etcd::storage::{classify, DekSource, Storage};
use ksec_etcd::Error;
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

#[tokio::test]
async fn kms_v1_gcm_and_pre_125_cbc_values_through_a_key_backend() {
    const OBJ: &[u8] = b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Secret";
    const KEY: &[u8] = b"/registry/secrets/default/s1";
    let config = EncryptionConfiguration::from_text(
        b"apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - kms: {name: old, endpoint: 'unix:///nonexistent.sock'}\n",
        "enc.yaml",
    )
    .unwrap();
    let mut d = Decryptor::new(config);
    d.use_key_backend("old", Arc::new(Base64Kms)).unwrap();
    let dek = [8u8; 32];
    let wrapped = STANDARD.encode(dek).into_bytes();
    let head = |v: &mut Vec<u8>| {
        v.extend_from_slice(b"k8s:enc:kms:v1:old:");
        v.extend_from_slice(&(wrapped.len() as u16).to_be_bytes());
        v.extend_from_slice(&wrapped);
    };
    let mut gcm = vec![];
    head(&mut gcm);
    gcm.extend_from_slice(&[1; 12]);
    gcm.extend(aead::seal_any(&dek, &[1; 12], KEY, OBJ).unwrap());
    let mut old = vec![];
    head(&mut old);
    old.extend_from_slice(&[2; 16]);
    old.extend(cbc::encrypt(&dek, &[2; 16], OBJ).unwrap());
    for v in [&gcm, &old] {
        let out = d.decrypt("secrets", KEY, v).await.unwrap();
        assert_eq!(out.plaintext.expose(), OBJ);
        assert_eq!(out.storage, Storage::KmsV1 { name: "old".into() });
    }
    // AES-GCM binds the etcd key; the pre-1.25 AES-CBC data does not.
    let moved = b"/registry/secrets/x/y";
    assert!(d.decrypt("secrets", moved, &gcm).await.is_err());
    assert!(d.decrypt("secrets", moved, &old).await.is_ok());
    let e = d.use_key_backend("nope", Arc::new(Base64Kms)).unwrap_err();
    assert!(matches!(e, Error::NoSuchKmsProvider { .. }), "{e:?}");
    assert!(e.to_string().contains("\"nope\""), "{e}");
}
