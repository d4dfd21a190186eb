//! Values files at http:// URLs (`secrets://http://…`), served by a small HTTP/1.1
//! server on 127.0.0.1 that the test starts on a free port and stops on drop:
//! helm-secrets' age-encrypted asset decrypted as `sops --decrypt` prints it, a file
//! without SOPS metadata passed on, a 404 named, and `?` making it empty values.
use crate::support::{assets, settings, sops_decrypt, values};
use ksec_helm::download;
use ksec_testkit::files_server::FilesServer as Server;

#[test]
fn values_files_at_http_urls() {
    let (Some(assets), Some(file)) = (assets(), values("secrets.age.yaml")) else {
        return;
    };
    let key = assets.join("age/key.txt");
    let Some(expected) = sops_decrypt(&file, &[("SOPS_AGE_KEY_FILE", &key)]) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    std::fs::copy(&file, root.path().join("secrets.yaml")).unwrap();
    std::fs::write(root.path().join("plain.yaml"), "a: 1\n").unwrap();
    let server = Server::start(root.path().to_path_buf());

    // An encrypted file: fetched, then decrypted byte for byte as sops does.
    let url = format!(
        "secrets+age-import://{}?{}",
        key.display(),
        server.url("secrets.yaml")
    );
    let got = download(&url, &settings()).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got.data),
        String::from_utf8_lossy(&expected)
    );
    assert!(got.warnings.is_empty(), "{:?}", got.warnings);

    // No SOPS metadata: passed on unchanged, with the URL named in the warning.
    let got = download(
        &format!("secrets://{}", server.url("plain.yaml")),
        &settings(),
    )
    .unwrap();
    assert_eq!(got.data.as_slice(), b"a: 1\n");
    assert!(
        got.warnings[0].contains(&server.url("plain.yaml")),
        "{:?}",
        got.warnings
    );

    // A 404 is an error naming the URL and the answer; with '?' it is empty values.
    let missing = server.url("missing.yaml");
    let e = download(&format!("secrets://{missing}"), &settings())
        .unwrap_err()
        .to_string();
    assert!(e.contains(&missing) && e.contains("404"), "{e}");
    let got = download(&format!("secrets://?{missing}"), &settings()).unwrap();
    assert!(got.data.is_empty());
    assert_eq!(server.requests().len(), 4);
}
