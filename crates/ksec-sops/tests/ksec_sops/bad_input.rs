//! Bad input gives a clear typed error and never a panic.
use super::support::*;
use super::support::{emit_plain, encrypt, load_plain, open};
use ksec_sops::keys::{Keyring, Recipient};
use ksec_sops::{Encryptor, MacCheck};

use ksec_sops::{Error, Format};

fn keyring_and_recipient() -> (Keyring, String, tempfile::TempDir) {
    // A generated identity (no peer needed): the age crate makes it.
    let dir = tempfile::tempdir().unwrap();
    let id = age::x25519::Identity::generate();
    let text = format!(
        "{}\n",
        age::secrecy::ExposeSecret::expose_secret(&id.to_string())
    );
    let f = dir.path().join("k.txt");
    std::fs::write(&f, text).unwrap();
    (age_keyring(&[&f]), id.to_public().to_string(), dir)
}

fn enc(kr: &Keyring, r: &str, plain: &str) -> String {
    let o = Encryptor::new().key_groups(vec![vec![Recipient::age(r)]]);
    String::from_utf8(encrypt(Format::Yaml, Format::Yaml, plain.as_bytes(), &o, kr).unwrap())
        .unwrap()
}

#[test]
fn tampered_value_and_mac_are_rejected() {
    let (kr, r, _d) = keyring_and_recipient();
    let e = enc(&kr, &r, "a: secret\nb: other\n");
    // Swap the two encrypted values: each still authenticates? No: AAD is the path.
    let lines: Vec<&str> = e.lines().collect();
    let a = lines[0].trim_start_matches("a: ");
    let b = lines[1].trim_start_matches("b: ");
    let swapped = e
        .replacen(a, "@@", 1)
        .replacen(b, a, 1)
        .replacen("@@", b, 1);
    let err = open(Format::Yaml, swapped.as_bytes(), &kr, MacCheck::Verify).unwrap_err();
    assert!(
        matches!(err, Error::ValueDecrypt { ref path } if path == "a"),
        "{err}"
    );
    // An unencrypted value changed: the MAC catches it.
    let e2 = enc(&kr, &r, "a: secret\nb_unencrypted: shown\n");
    let changed = e2.replace("b_unencrypted: shown", "b_unencrypted: changed");
    assert!(matches!(
        open(Format::Yaml, changed.as_bytes(), &kr, MacCheck::Verify),
        Err(Error::MacMismatch)
    ));
    assert!(open(Format::Yaml, changed.as_bytes(), &kr, MacCheck::Ignore).is_ok());
}

#[test]
fn malformed_enc_names_the_key_not_the_value() {
    let (kr, r, _d) = keyring_and_recipient();
    let e = enc(&kr, &r, "token: abcdef\n");
    let broken = e.replacen("iv:", "iv:!!", 1);
    let err = open(Format::Yaml, broken.as_bytes(), &kr, MacCheck::Verify).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::MalformedValue { .. }), "{msg}");
    assert!(msg.contains("token") && msg.contains("iv"), "{msg}");
    assert!(!msg.contains("abcdef"));
}

#[test]
fn no_key_lists_what_was_tried() {
    let (kr, r, _d) = keyring_and_recipient();
    let e = enc(&kr, &r, "a: 1\n");
    let (other, _, _d2) = keyring_and_recipient();
    let err = open(Format::Yaml, e.as_bytes(), &other, MacCheck::Verify).unwrap_err();
    assert!(matches!(err, Error::NoKey { .. }));
    assert!(err.to_string().contains(&r), "{err}");
}

#[test]
fn plaintext_input_errors() {
    assert!(matches!(
        load_plain(Format::Yaml, b"sops:\n  x: 1\n"),
        Err(Error::AlreadyEncrypted)
    ));
    assert!(matches!(
        load_plain(Format::Dotenv, b"sops_mac=x\n"),
        Err(Error::AlreadyEncrypted)
    ));
    let dup = load_plain(Format::Yaml, b"a: 1\nb: 2\na: 3\n")
        .unwrap_err()
        .to_string();
    assert!(dup.contains("line 3") && dup.contains("\"a\""), "{dup}");
    assert!(load_plain(Format::Json, br#"{"a":1,"a":2}"#).is_err());
    assert!(load_plain(Format::Yaml, b"- a\n- b\n")
        .unwrap_err()
        .to_string()
        .contains("sequence"));
    assert!(load_plain(Format::Json, b"[1,2]")
        .unwrap_err()
        .to_string()
        .contains("top level"));
    assert!(load_plain(Format::Yaml, b"a: \xff\xfe\n")
        .unwrap_err()
        .to_string()
        .contains("UTF-8"));
    assert!(matches!(
        open(
            Format::Yaml,
            b"a: 1\n",
            &Keyring::new(vec![]),
            MacCheck::Verify
        ),
        Err(Error::MetadataNotFound)
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(std::env::var("KSEC_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)))]

    /// No input makes a parser panic.
    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        for f in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini] {
            let _ = load_plain(f, &data);
            let _ = ksec_sops::LockedFile::parse(&data, f);
        }
        if let Ok(s) = std::str::from_utf8(&data) {
            let _ = ksec_sops::internal::reformat_enc_value(s);
        }
    }

    /// Age identity text and payloads, noise or shaped like plugin identities
    /// (the entry point of the `ksec_sops_age_identities` fuzz target), never
    /// panic, and a line that is not an identity is refused without echoing it.
    #[test]
    fn age_identity_text_never_panics(text in "(#[ -~]{0,10}\n|AGE-PLUGIN-[A-Z0-9]{0,6}-1[A-Z0-9]{0,30}\n|AGE-SECRET-KEY-1[A-Z0-9]{0,20}\n|[ -~]{0,12}\n|\n){0,6}") {
        let mut svc = ksec_sops::keys::age::AgeService::empty();
        svc.add_identities(&text, "prop");
        let _ = svc.decrypt_payload(&text);
        for line in text.lines().filter(|l| l.len() > 12 && !l.starts_with('#')) {
            for s in &svc.sources {
                proptest::prop_assert!(!s.contains(line), "{s:?} echoes {line:?}");
            }
        }
    }

    /// YAML-shaped noise (indicators, indentation, quotes, comments) never panics
    /// or hangs the YAML parser, and whatever parses emits and parses again.
    #[test]
    fn yaml_shaped_noise(text in "([a-z]{1,3}|: |:|- |-|#|'|\"|\\|\\[|\\]|\\{|\\}|,|\\||>|&a|\\*a|!!str |\n|  |\t|---\n|\\.\\.\\.\n|\\? ){0,40}") {
        if let Ok(doc) = load_plain(Format::Yaml, text.as_bytes()) {
            let out = emit_plain(Format::Yaml, &doc, Default::default()).unwrap();
            let again = load_plain(Format::Yaml, &out);
            proptest::prop_assert!(again.is_ok(), "{text:?} -> {}", String::from_utf8_lossy(&out));
        }
    }

    /// YAML made of random keys and scalars survives emit → parse unchanged.
    #[test]
    fn yaml_round_trip(entries in proptest::collection::vec(("[a-z_][a-z0-9_]{0,8}", proptest::prelude::any::<String>(), proptest::prelude::any::<i64>(), proptest::prelude::any::<bool>()), 1..8)) {
        use ksec_sops::{Item, Value};
        let mut seen = std::collections::HashSet::new();
        let items: Vec<Item> = entries.into_iter().filter(|e| seen.insert(e.0.clone())).map(|(k, s, i, b)| {
            Item::Entry(k, Value::Map(vec![
                Item::Entry("s".into(), Value::Str(s)),
                Item::Entry("i".into(), Value::Int(i)),
                Item::Entry("l".into(), Value::Seq(vec![Value::Bool(b), Value::Null])),
            ]))
        }).collect();
        let doc = ksec_sops::Document::single(items);
        let text = emit_plain(Format::Yaml, &doc, Default::default()).unwrap();
        let back = load_plain(Format::Yaml, &text).unwrap();
        proptest::prop_assert_eq!(back, doc, "{}", String::from_utf8_lossy(&text));
    }
}

/// Nesting is bounded in every store, and what the bound lets in survives
/// encrypt → decrypt (no stack overflow in the walks over the tree).
#[test]
fn nesting_is_bounded_and_what_is_accepted_round_trips() {
    let (kr, r, _d) = keyring_and_recipient();
    let encryptor = Encryptor::new().key_groups(vec![vec![Recipient::age(&r)]]);
    let json = |depth: usize| format!("{{\"a\": {}1{}}}", "[".repeat(depth), "]".repeat(depth));
    let yaml = |depth: usize| format!("a: {}1{}\n", "[".repeat(depth), "]".repeat(depth));
    for (format, deep, too_deep) in [
        (Format::Json, json(500), json(600)),
        (Format::Yaml, yaml(250), yaml(300)),
    ] {
        let enc = encrypt(format, format, deep.as_bytes(), &encryptor, &kr).unwrap();
        let back = open(format, &enc, &kr, MacCheck::Verify).unwrap();
        assert_eq!(
            back.document(),
            &load_plain(format, deep.as_bytes()).unwrap()
        );
        let err = load_plain(format, too_deep.as_bytes())
            .map(drop)
            .unwrap_err();
        assert!(err.to_string().contains("nesting too deep"), "{err}");
    }
    // dotenv and INI are flat: nothing nests, and their metadata lists are bounded.
    let far = "a=1\nsops_age__list_99999999__map_enc=x\nsops_lastmodified=2020-01-01T00:00:00Z\n";
    let err = ksec_sops::LockedFile::parse(far.as_bytes(), Format::Dotenv).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    let ini = "[sops]\nage__list_99999999__map_enc = x\n";
    assert!(ksec_sops::LockedFile::parse(ini.as_bytes(), Format::Ini).is_err());
}
