//! The read path against values built here with each local cipher. KMS data keys
//! unwrapped by a key backend, and the values kube-apiserver 1.27/1.28 wrote
//! (`$KSEC_FIXTURES/kubernetes/kmsv2-legacy`), are read in `tests/ksec-etcd/kms.rs`.
use super::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

const OBJ: &[u8] = b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Secret";
const KEY: &[u8] = b"/registry/secrets/default/s1";

fn config(providers: &str) -> EncryptionConfiguration {
    let text = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n{providers}"
    );
    EncryptionConfiguration::from_text(text.as_bytes(), "test").unwrap()
}

fn b64(k: &[u8]) -> String {
    STANDARD.encode(k)
}

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn every_local_cipher_round_trips_and_names_its_key() {
    let (k16, k32) = ([1u8; 16], [2u8; 32]);
    let d = Decryptor::new(config(&format!(
        "  - aesgcm: {{keys: [{{name: g, secret: {}}}]}}\n  - aescbc: {{keys: [{{name: c1, secret: {}}}, {{name: c2, secret: {}}}]}}\n  - secretbox: {{keys: [{{name: s, secret: {}}}]}}\n  - identity: {{}}\n",
        b64(&k16), b64(&k16), b64(&k32), b64(&k32)
    )));
    let mut gcm = b"k8s:enc:aesgcm:v1:g:".to_vec();
    gcm.extend_from_slice(&[9; 12]);
    gcm.extend(aead::seal_any(&k16, &[9; 12], KEY, OBJ).unwrap());
    let mut cbc_v = b"k8s:enc:aescbc:v1:c2:".to_vec();
    cbc_v.extend_from_slice(&[3; 16]);
    cbc_v.extend(cbc::encrypt(&k32, &[3; 16], OBJ).unwrap());
    let mut sb = b"k8s:enc:secretbox:v1:s:".to_vec();
    sb.extend_from_slice(&[4; 24]);
    sb.extend(secretbox::seal(&k32, &[4; 24], OBJ).unwrap());
    for (value, want) in [
        (&gcm, Storage::Aesgcm { key: "g".into() }),
        (&cbc_v, Storage::Aescbc { key: "c2".into() }),
        (&sb, Storage::Secretbox { key: "s".into() }),
    ] {
        let out = run(d.decrypt("secrets", KEY, value)).unwrap();
        assert_eq!(out.storage, want);
        assert_eq!(out.plaintext.expose(), OBJ);
        assert_eq!(storage::classify(value).unwrap(), want, "audit agrees");
    }
    let plain = run(d.decrypt("secrets", KEY, OBJ)).unwrap();
    assert!(plain.storage.is_plaintext());

    // AES-GCM binds the value to its etcd key.
    assert_eq!(
        run(d.decrypt("secrets", b"/registry/secrets/default/other", &gcm)).unwrap_err(),
        ValueError::Decrypt {
            provider: "aesgcm",
            name: "g".into()
        }
    );
    // A key the configuration no longer has.
    let mut gone = b"k8s:enc:aescbc:v1:c9:".to_vec();
    gone.extend_from_slice(&cbc_v[21..]);
    assert_eq!(
        run(d.decrypt("secrets", KEY, &gone)).unwrap_err(),
        ValueError::UnknownKey {
            provider: "aescbc",
            name: "c9".into()
        }
    );
    // Truncated values.
    for cut in [gcm.len() - 20, 25, 21] {
        assert!(
            matches!(
                run(d.decrypt("secrets", KEY, &gcm[..cut])),
                Err(ValueError::Truncated { .. } | ValueError::Decrypt { .. })
            ),
            "cut at {cut}"
        );
    }
    // A provider the configuration does not have for this resource.
    let e = run(d.decrypt("secrets", KEY, b"k8s:enc:kms:v2:vault:xx")).unwrap_err();
    assert_eq!(
        e,
        ValueError::NoProvider {
            provider: "kms v2",
            name: "vault".into(),
            resource: "secrets".into()
        }
    );
    // Resources without an entry: plaintext still reads, encrypted data names the gap.
    assert!(run(d.decrypt("configmaps", KEY, &sb)).is_err());
}

#[test]
fn aes_cbc_with_the_wrong_key_is_caught_by_the_object_check() {
    let right = [5u8; 32];
    let d = Decryptor::new(config(&format!(
        "  - aescbc: {{keys: [{{name: k, secret: {}}}]}}\n",
        b64(&[6u8; 32])
    )));
    let mut hits = 0;
    for iv in 0..64u8 {
        let mut v = b"k8s:enc:aescbc:v1:k:".to_vec();
        v.extend_from_slice(&[iv; 16]);
        v.extend(cbc::encrypt(&right, &[iv; 16], OBJ).unwrap());
        match run(d.decrypt("secrets", KEY, &v)) {
            Err(ValueError::Decrypt { .. }) | Err(ValueError::NotAnObject { .. }) => hits += 1,
            other => panic!("wrong key accepted: {other:?}"),
        }
    }
    assert_eq!(hits, 64);
}

#[test]
fn an_unreachable_plugin_is_a_per_value_error() {
    let d = Decryptor::new(config(
        "  - kms: {apiVersion: v2, name: p, endpoint: 'unix:///nonexistent/kms.sock', timeout: 1s}\n",
    ));
    let mut v = b"k8s:enc:kms:v2:p:".to_vec();
    v.extend(crate::kmsv2::encode(&[0; 60], "1", b"d2Vk", &[], 1));
    let e = run(d.decrypt("secrets", KEY, &v)).unwrap_err();
    let ValueError::Kms { provider, reason } = e else {
        panic!("{e:?}")
    };
    assert_eq!(provider, "p");
    assert!(reason.contains("unix:///nonexistent/kms.sock"), "{reason}");
}

#[test]
fn providers_are_picked_as_the_apiserver_picks_them() {
    let text = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers: [{identity: {}}]\n- resources: ['*.apps']\n  providers: [{secretbox: {keys: [{name: a, secret: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=}]}}]\n- resources: ['*.*']\n  providers: [{aescbc: {keys: [{name: z, secret: AAAAAAAAAAAAAAAAAAAAAA==}]}}]\n";
    let d = Decryptor::new(EncryptionConfiguration::from_text(text.as_bytes(), "t").unwrap());
    let kinds = |r: &str| -> Vec<&'static str> {
        d.providers_for(r)
            .iter()
            .map(|p| match p {
                Provider::Identity => "identity",
                Provider::Secretbox(_) => "secretbox",
                Provider::Aescbc(_) => "aescbc",
                _ => "other",
            })
            .collect()
    };
    assert_eq!(kinds("secrets"), ["identity"]);
    assert_eq!(kinds("deployments.apps"), ["secretbox"]);
    assert_eq!(kinds("configmaps"), ["aescbc"]);
}

#[test]
fn a_repeated_kms_v1_name_is_read_by_the_first_provider() {
    // Without automatic reload kube-apiserver accepts two KMS v1 providers with one
    // name; the first one with the prefix reads the value, so its plugin is asked.
    let d = Decryptor::new(config(
        "  - kms: {name: dup, endpoint: 'unix:///nonexistent/first.sock', timeout: 1s}\n  - kms: {name: dup, endpoint: 'unix:///nonexistent/second.sock', timeout: 1s}\n",
    ));
    let mut v = b"k8s:enc:kms:v1:dup:".to_vec();
    v.extend_from_slice(&4u16.to_be_bytes());
    v.extend_from_slice(b"d2Vr");
    v.extend_from_slice(&[0; 40]);
    let e = run(d.decrypt("secrets", KEY, &v)).unwrap_err();
    let ValueError::Kms { provider, reason } = e else {
        panic!("{e:?}")
    };
    assert_eq!(provider, "dup");
    assert!(reason.contains("first.sock"), "{reason}");
}
