//! Property tests over the readers and writers of outside input (the same entry points
//! as the fuzz targets in /fuzz, run on stable in CI).
use ksec_seal::{docs, render, SealedSecret, Secret};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn scalar_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ._/:#&*!|>'\"%@`,\\[\\]{}?=+-]{0,40}",
        Just("true".to_string()),
        Just("0x1F".to_string()),
        Just("1:20".to_string()),
        Just("".to_string()),
        "[a-z ]{60,120}",
        "[a-z]{1,8}\n[a-z ]{0,8}\n?",
        any::<String>().prop_map(|s| s.chars().take(30).collect()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        scalar_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z0-9._/-]{1,12}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// What the YAML writer produces reads back as the same value.
    #[test]
    fn yaml_writer_round_trips(v in json_value()) {
        let doc = Value::Object([("root".to_string(), v)].into_iter().collect());
        let text = render::yaml::to_string(&doc);
        let back = docs::parse_documents(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&back[0], &doc, "{}", text);
    }

    /// The same for the Go-style JSON writer.
    #[test]
    fn json_writer_round_trips(v in json_value()) {
        let text = render::json::to_string_pretty(&v);
        let back: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, v);
    }

    /// The readers never panic, whatever the document.
    #[test]
    fn readers_never_panic(v in json_value()) {
        let _ = Secret::from_value(&v);
        let _ = SealedSecret::from_value(&v);
        let mut obj = Map::new();
        obj.insert("kind".into(), Value::String("SealedSecret".into()));
        obj.insert("spec".into(), v.clone());
        obj.insert("metadata".into(), v);
        if let Ok(ss) = SealedSecret::from_value(&Value::Object(obj)) {
            let _ = render::document(&ss.to_value(), render::Format::Yaml);
        }
    }

    /// Raw bytes through the document parser never panic.
    #[test]
    fn document_parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = docs::parse_documents(&data);
        let _ = ksec_seal::keys::load_private_keys(&data, "x");
    }
}
