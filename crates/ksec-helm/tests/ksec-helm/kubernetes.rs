//! `secrets+age-import-kubernetes://` and `secrets+gpg-import-kubernetes://` against
//! ksec-testkit's Kubernetes API served over HTTPS, through a kubeconfig (no kubectl).
use crate::support::{
    assets, gpg_home, leftover_scratch, settings, sops_decrypt, stop_agent, values, SCRATCH,
};
use base64::Engine;
use ksec_helm::download;
use ksec_testkit::cluster::{ApiServer, Credentials, FakeApi};

#[test]
fn keys_are_read_from_cluster_secrets() {
    let _one_at_a_time = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    let (Some(assets), Some(home)) = (assets(), gpg_home()) else {
        return;
    };
    let b64 = |p: &str| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(assets.join(p)).unwrap())
    };
    let server = ApiServer::start(FakeApi::new());
    server.api().load_str(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: helm-keys\n  namespace: argocd\n\
         data:\n  key.txt: {}\n  key.asc: {}\n",
        b64("age/key.txt"),
        b64("gpg/private.gpg")
    ));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    server
        .kubeconfig_builder(Credentials::Token)
        .namespace("argocd")
        .write(&kubeconfig);
    // The only test of this binary that reads KUBECONFIG.
    std::env::set_var("KUBECONFIG", &kubeconfig);
    std::env::remove_var("HELM_KUBECONTEXT");

    let age_file = values("secrets.age.yaml").unwrap();
    let Some(age_plain) = sops_decrypt(
        &age_file,
        &[("SOPS_AGE_KEY_FILE", &assets.join("age/key.txt"))],
    ) else {
        return;
    };
    for location in ["argocd/helm-keys#key.txt", "helm-keys#key.txt"] {
        let url = format!(
            "secrets+age-import-kubernetes://{location}?{}",
            age_file.display()
        );
        let got = download(&url, &settings()).unwrap_or_else(|e| panic!("{location}: {e}"));
        assert_eq!(got.data.as_slice(), age_plain.as_slice(), "{location}");
    }

    let pgp_file = values("secrets.yaml").unwrap();
    let pgp_plain = sops_decrypt(&pgp_file, &[("GNUPGHOME", home.path())]).unwrap();
    let url = format!(
        "secrets+gpg-import-kubernetes://argocd/helm-keys#key.asc?{}",
        pgp_file.display()
    );
    assert_eq!(
        download(&url, &settings()).unwrap().data.as_slice(),
        pgp_plain.as_slice()
    );
    stop_agent(home.path());
    assert_eq!(leftover_scratch(), Vec::<std::path::PathBuf>::new());

    // References that do not exist are errors naming the Secret and the key.
    let e = download(
        &format!(
            "secrets+age-import-kubernetes://argocd/helm-keys#nope?{}",
            age_file.display()
        ),
        &settings(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("argocd/helm-keys") && e.contains("\"nope\"") && e.contains("key.asc, key.txt"),
        "{e}"
    );
    assert!(!e.contains("AGE-SECRET-KEY"), "{e}");
    let e = download(
        &format!(
            "secrets+age-import-kubernetes://team/helm-keys#key.txt?{}",
            age_file.display()
        ),
        &settings(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("team/helm-keys"), "{e}");

    // Credentials the cluster refuses.
    let wrong = dir.path().join("wrong");
    server
        .kubeconfig_builder(Credentials::WrongToken)
        .write(&wrong);
    std::env::set_var("KUBECONFIG", &wrong);
    let e = download(
        &format!(
            "secrets+age-import-kubernetes://argocd/helm-keys#key.txt?{}",
            age_file.display()
        ),
        &settings(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("argocd/helm-keys"), "{e}");
    std::env::remove_var("KUBECONFIG");
}
