//! Property tests: random documents survive encrypt → decrypt in every text store,
//! under every rule, with the MAC checked.
use super::support::age_keyring;
use super::support::{decrypt_to, emit_plain, encrypt, load_plain};
use ksec_sops::keys::{Keyring, Recipient};
use ksec_sops::Encryptor;
use ksec_sops::Rules;

use ksec_sops::{Document, Format, Item, Value};
use proptest::prelude::*;
use std::sync::OnceLock;

fn keys() -> &'static (Keyring, String, tempfile::TempDir) {
    static K: OnceLock<(Keyring, String, tempfile::TempDir)> = OnceLock::new();
    K.get_or_init(|| {
        let (text, recipient) = ksec_sops::keys::age::generate();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.txt");
        std::fs::write(&f, text.as_bytes()).unwrap();
        (age_keyring(&[&f]), recipient, dir)
    })
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::Str),
        "[a-z ]{0,12}".prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        (-1e9f64..1e9).prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Seq),
            prop::collection::vec(("[a-z][a-z0-9_]{0,6}", inner), 0..4).prop_map(|kv| {
                let mut seen = std::collections::HashSet::new();
                Value::Map(
                    kv.into_iter()
                        .filter(|(k, _)| seen.insert(k.clone()))
                        .map(|(k, v)| Item::Entry(k, v))
                        .collect(),
                )
            }),
        ]
    })
}

fn document() -> impl Strategy<Value = Vec<Item>> {
    prop::collection::vec(("[a-z][a-z0-9_]{0,6}", value(), any::<bool>()), 1..6).prop_map(|kv| {
        let mut seen = std::collections::HashSet::new();
        let mut items = Vec::new();
        for (k, v, comment) in kv {
            if k == "sops" || !seen.insert(k.clone()) {
                continue;
            }
            if comment {
                items.push(Item::Comment(format!(" about {k}")));
            }
            items.push(Item::Entry(k, v));
        }
        items
    })
}

fn rules(n: u8) -> Rules {
    let re = |s: &str| Some(Rules::regex("t", s).unwrap());
    match n % 5 {
        0 => Rules::default(),
        1 => Rules {
            encrypted_regex: re("^[a-m]"),
            ..Rules::default()
        },
        2 => Rules {
            unencrypted_suffix: Some("_x".into()),
            mac_only_encrypted: true,
            ..Rules::default()
        },
        3 => Rules {
            unencrypted_comment_regex: re("about a"),
            ..Rules::default()
        },
        _ => Rules {
            encrypted_suffix: Some("1".into()),
            ..Rules::default()
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("KSEC_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)))]

    #[test]
    fn encrypt_then_decrypt_gives_the_same_file(items in document(), r in any::<u8>(), json in any::<bool>()) {
        let (kr, recipient, _) = keys();
        let fmt = if json { Format::Json } else { Format::Yaml };
        let plain = emit_plain(fmt, &Document::single(items), Default::default()).unwrap();
        // The reference is the file as the store writes it (JSON drops comments).
        let reference = emit_plain(fmt, &load_plain(fmt, &plain).unwrap(), Default::default()).unwrap();
        let opts = Encryptor::new().key_groups(vec![vec![Recipient::age(recipient)]]).rules(rules(r));
        let enc = encrypt(fmt, fmt, &plain, &opts, kr).unwrap();
        let back = decrypt_to(fmt, fmt, &enc, kr).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&back), String::from_utf8_lossy(&reference));
    }
}
