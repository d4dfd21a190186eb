//! Every fixture written by the real sops decrypts to its known plaintext.
use super::support::*;
use super::support::{decrypt_to, emit_plain, open};
use ksec_sops::EmitOptions;
use ksec_sops::MacCheck;
use ksec_sops::{Error, Format};
use std::path::Path;

fn dec(kr: &ksec_sops::keys::Keyring, f: &Path, fmt: Format, out: Format) -> Result<String, Error> {
    let input = std::fs::read(f).unwrap();
    decrypt_to(fmt, out, &input, kr).map(|b| String::from_utf8(b).unwrap())
}

#[test]
fn sops_age_fixtures_decrypt_to_secret_json() {
    let Some(fx) = fixtures() else { return };
    let base = fx.join("sops-age");
    let kr = age_keyring(&[&base.join("key.txt")]);
    let data = base.join("tests/data");
    let yaml = dec(
        &kr,
        &data.join("secret.enc.yaml"),
        Format::Yaml,
        Format::Json,
    )
    .unwrap();
    let json = dec(
        &kr,
        &data.join("secret.enc.json"),
        Format::Json,
        Format::Json,
    )
    .unwrap();
    for got in [&yaml, &json] {
        for needle in [
            "\"secret\": \"this is a secret\"",
            "\"string\": \"string\"",
            "\"boolean\": true",
            "\"value\": \"this is a secret\"",
            "\"one\"",
            "\"three\"",
        ] {
            assert!(got.contains(needle), "{needle} missing in {got}");
        }
    }
    assert!(
        yaml.contains("\"int\": 7") && yaml.contains("\"float\": 3.14"),
        "{yaml}"
    );
    // The JSON fixture was written by sops 3.9, which stored 7 as type:float.
    assert!(json.contains("\"int\": 7"), "{json}");
    let env = dec(
        &kr,
        &data.join("secret.enc.env"),
        Format::Dotenv,
        Format::Dotenv,
    )
    .unwrap();
    assert!(env.starts_with("secret=this is a secret\n"), "{env}");
}

#[test]
fn helm_secrets_age_fixture_decrypts() {
    let Some(fx) = fixtures() else { return };
    let base = fx.join("helm-secrets/tests/assets");
    let kr = age_keyring(&[&base.join("age/key.txt")]);
    let got = dec(
        &kr,
        &base.join("values/sops/secrets.age.yaml"),
        Format::Yaml,
        Format::Yaml,
    )
    .unwrap();
    let want = std::fs::read_to_string(base.join("values/sops/secrets.dec.yaml"))
        .unwrap()
        .replace("global_secret: global_bar", "global_secret: global_age")
        // The file (MAC-verified) also holds port 92, which the fixtures README omits.
        .replace("port: 81", "port: 92");
    assert_eq!(norm(&got), norm(&want));
}

/// Compares YAML by data, not layout (helm-secrets' plaintext uses indent 2).
fn norm(y: &str) -> String {
    let d = ksec_sops::Document::parse(y.as_bytes(), Format::Yaml).unwrap();
    String::from_utf8(emit_plain(Format::Json, &d, EmitOptions::default()).unwrap()).unwrap()
}

#[test]
fn getsops_pgp_fixtures_decrypt() {
    let Some(fx) = fixtures() else { return };
    let base = fx.join("getsops-sops");
    let Some(home) = gpg_home(&[&base.join("pgp/sops_functional_tests_key.asc")]) else {
        return;
    };
    let kr = gpg_keyring(home.path());
    let res = base.join("functional-tests/res");
    assert_eq!(
        dec(
            &kr,
            &res.join("format.enc.yaml"),
            Format::Yaml,
            Format::Yaml
        )
        .unwrap(),
        "foo: bar\n"
    );
    assert_eq!(
        dec(
            &kr,
            &res.join("format.enc.json"),
            Format::Json,
            Format::Json
        )
        .unwrap(),
        "{\n\t\"foo\": \"bar\"\n}\n"
    );
    assert_eq!(
        dec(
            &kr,
            &res.join("format.enc.env"),
            Format::Dotenv,
            Format::Dotenv
        )
        .unwrap(),
        "foo = bar\n"
    );
    assert_eq!(
        dec(&kr, &res.join("format.enc.ini"), Format::Ini, Format::Ini).unwrap(),
        "[foo]\nbar = baz\n"
    );
    assert_eq!(
        dec(&kr, &res.join("format-2.enc.ini"), Format::Ini, Format::Ini).unwrap(),
        "[foo]\nbar = baz\n"
    );
    assert_eq!(
        dec(
            &kr,
            &res.join("comments.enc.yaml"),
            Format::Yaml,
            Format::Yaml
        )
        .unwrap(),
        // sops ends its output with a newline; the fixture file has none.
        std::fs::read_to_string(res.join("comments.yaml")).unwrap() + "\n"
    );
    assert_eq!(
        dec(
            &kr,
            &res.join("multiple_keys.yaml"),
            Format::Yaml,
            Format::Yaml
        )
        .unwrap(),
        "message: hello\n"
    );
    // The MAC-less file fails (sops exit 51) unless the MAC check is off.
    let nomac = std::fs::read(res.join("no_mac.yaml")).unwrap();
    assert!(matches!(
        open(Format::Yaml, &nomac, &kr, MacCheck::Verify),
        Err(Error::MacMissing | Error::MacMismatch)
    ));
    assert!(open(Format::Yaml, &nomac, &kr, MacCheck::Ignore).is_ok());
    for (f, fmt) in [
        ("example.yaml", Format::Yaml),
        ("example.json", Format::Json),
        ("example.ini", Format::Ini),
        ("example.txt", Format::Json),
    ] {
        let o = open(
            fmt,
            &std::fs::read(base.join(f)).unwrap(),
            &kr,
            MacCheck::Verify,
        );
        assert!(o.is_ok(), "{f}: {:?}", o.err());
    }
    let ex = dec(&kr, &base.join("example.yaml"), Format::Yaml, Format::Yaml).unwrap();
    assert!(
        !ex.contains("ENC["),
        "comments and values all decrypted: {ex}"
    );
}

#[test]
fn helm_secrets_pgp_and_binary_fixtures_decrypt() {
    let Some(fx) = fixtures() else { return };
    let base = fx.join("helm-secrets/tests/assets");
    let Some(home) = gpg_home(&[&base.join("gpg/private.gpg")]) else {
        return;
    };
    let kr = gpg_keyring(home.path());
    let v = base.join("values/sops");
    let raw = std::fs::read(v.join("secrets.trailing-newline.raw")).unwrap();
    let got = decrypt_to(Format::Binary, Format::Binary, &raw, &kr).unwrap();
    assert_eq!(
        got,
        std::fs::read(v.join("secrets.trailing-newline.dec.raw")).unwrap()
    );
    let want = norm(&std::fs::read_to_string(v.join("secrets.dec.yaml")).unwrap());
    assert_eq!(
        norm(&dec(&kr, &v.join("secrets.yaml"), Format::Yaml, Format::Yaml).unwrap()),
        want
    );
    let some = norm(&std::fs::read_to_string(v.join("some-secrets.dec.yaml")).unwrap());
    for f in ["some-secrets.yaml", "some-secrets.windows.yaml"] {
        assert_eq!(
            norm(&dec(&kr, &v.join(f), Format::Yaml, Format::Yaml).unwrap()),
            some,
            "{f}"
        );
    }
}
