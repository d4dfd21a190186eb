//! Bad input: each case fails with an error naming the file and the reason, and no
//! error message carries a plaintext value.
use crate::support::{assets, settings, values};
use ksec_helm::{download, Error, Settings};
use std::collections::HashMap;

fn with(vars: &[(&str, &str)]) -> Settings {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_lookup(|k| map.get(k).cloned()).unwrap()
}

/// The plaintext values of secrets.age.yaml, which no message may show.
const SECRETS: [&str; 2] = ["global_age", "BEGIN PGP"];

fn fails(url: &str, s: &Settings, needles: &[&str]) -> Error {
    let e = download(url, s).expect_err(url);
    let msg = e.to_string();
    for n in needles {
        assert!(msg.contains(n), "{url}: {msg:?} lacks {n:?}");
    }
    for secret in SECRETS {
        assert!(
            !msg.contains(secret),
            "{url}: the message shows a secret: {msg}"
        );
    }
    e
}

#[test]
fn damaged_files_are_refused_naming_the_file() {
    let Some(assets) = assets() else { return };
    let key = assets.join("age/key.txt");
    let good = std::fs::read_to_string(values("secrets.age.yaml").unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let import = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        format!("secrets+age-import://{}?{}", key.display(), p.display())
    };

    // The MAC changed: the file was altered without its key.
    let at = good.find("mac: ENC[AES256_GCM,data:").unwrap() + 30;
    let mut tampered = good.clone();
    let flipped = if &tampered[at..at + 1] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(at..at + 1, flipped);
    let e = fails(
        &import("tampered.yaml", &tampered),
        &settings(),
        &["tampered.yaml"],
    );
    assert!(e.sops_error().is_some(), "{e}");

    // A value moved to another key: its authenticated path no longer matches.
    let swapped = good.replacen("global_secret:", "moved_secret:", 1);
    fails(
        &import("moved.yaml", &swapped),
        &settings(),
        &["moved.yaml"],
    );

    // Truncated in the middle of the metadata.
    let cut = &good[..good.find("sops:").unwrap() + 40];
    fails(
        &import("truncated.yaml", cut),
        &settings(),
        &["truncated.yaml"],
    );
    // Truncated inside a value: no longer parses, but carries SOPS's marks.
    let cut = &good[..good.find("ENC[AES256_GCM,").unwrap() + 40];
    let e = fails(&import("cut.yaml", cut), &settings(), &["cut.yaml"]);
    assert!(
        matches!(e, Error::Damaged { .. } | Error::Decrypt { .. }),
        "{e:?}"
    );
}

#[test]
fn a_missing_key_names_the_key_types_and_the_rule() {
    let Some(assets) = assets() else { return };
    // Encrypted for a PGP key nobody has here; the age key cannot help.
    let file = values("secrets.gpg_key.yaml").unwrap();
    let url = format!(
        "secrets+age-import://{}?{}",
        assets.join("age/key.txt").display(),
        file.display()
    );
    let e = fails(
        &url,
        &settings(),
        &[
            "secrets.gpg_key.yaml",
            "pgp key 030CB93CA6080585BB7B4453CD92EAD13B038F38",
            ".sops.yaml has a creation rule for this file naming: pgp key D6174A02027050E59C711075B430C4E58E2BBBA3",
        ],
    );
    assert!(
        matches!(e.sops_error(), Some(ksec_sops::Error::NoKey { .. })),
        "{e:?}"
    );
}

#[test]
fn missing_files_and_refused_paths() {
    let Some(assets) = assets() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nope = dir.path().join("nope.yaml");
    fails(
        &format!("secrets://{}", nope.display()),
        &settings(),
        &["does not exist", "nope.yaml", "'?'"],
    );
    assert!(
        download(&format!("secrets://?{}", nope.display()), &settings())
            .unwrap()
            .data
            .is_empty()
    );
    let ignore = with(&[("HELM_SECRETS_IGNORE_MISSING_VALUES", "true")]);
    assert!(download(&format!("secrets://{}", nope.display()), &ignore)
        .unwrap()
        .data
        .is_empty());
    // With '?' a missing values file is empty values before any key is read (as
    // helm-secrets, which only points sops at an age key file).
    let optional = format!(
        "secrets+age-import://?{}?{}",
        dir.path().join("k.txt").display(),
        nope.display()
    );
    assert!(download(&optional, &settings()).unwrap().data.is_empty());
    let file = values("secrets.age.yaml").unwrap();
    let key = assets.join("age/key.txt");
    fails(
        &format!(
            "secrets+age-import://{}?{}",
            dir.path().join("k.txt").display(),
            file.display()
        ),
        &settings(),
        &["key file does not exist", "k.txt"],
    );

    let strict = with(&[("HELM_SECRETS_VALUES_ALLOW_PATH_TRAVERSAL", "false")]);
    fails(
        "secrets://../outside/secrets.yaml",
        &strict,
        &["'..'", "HELM_SECRETS_VALUES_ALLOW_PATH_TRAVERSAL"],
    );
    let argocd = with(&[("ARGOCD_APP_NAME", "app")]);
    fails(
        &format!("secrets+age-import://{}?{}", key.display(), file.display()),
        &argocd,
        &["secrets+age-import://", "HELM_SECRETS_ALLOW_AGE_IMPORT"],
    );
    let fenced = with(&[
        ("ARGOCD_APP_NAME", "app"),
        ("HELM_SECRETS_KEY_LOCATION_PREFIX", "/keys/"),
    ]);
    fails(
        &format!("secrets+age-import://{}?{}", key.display(), file.display()),
        &fenced,
        &["key location", "HELM_SECRETS_KEY_LOCATION_PREFIX"],
    );
    fails(
        &format!("secrets://vals!{}", file.display()),
        &settings(),
        &["\"vals\"", "not supported"],
    );
    fails(
        "secrets+age-import://key.txt",
        &settings(),
        &["syntax", "KEYFILE?PATH"],
    );
}
