//! A Kubernetes `v1/Secret`, as kubeseal reads it and as `ksec unseal` writes it.
use crate::meta::ObjectMeta;
use crate::Error;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ksec_crypto::SecretBytes;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A Secret. Values live in zeroizing buffers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Secret {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `type` ("" when unset).
    pub type_: String,
    /// `immutable`.
    pub immutable: Option<bool>,
    /// `data`, decoded.
    pub data: BTreeMap<String, SecretBytes>,
    /// `stringData`.
    pub string_data: BTreeMap<String, SecretBytes>,
}

impl Secret {
    /// Reads a Secret from a parsed JSON/YAML document.
    pub fn from_value(v: &Value) -> Result<Self, Error> {
        let obj = v.as_object().ok_or(Error::NotAMapping { kind: "Secret" })?;
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != "Secret" {
            return Err(Error::WrongKind {
                expected: "Secret",
                expected_api_version: "v1",
                found: kind.to_string(),
                found_api_version: None,
            });
        }
        let metadata = ObjectMeta::from_value(obj.get("metadata"))?;
        let type_ = match obj.get("type") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(field_error("type", "must be a string")),
        };
        let immutable = match obj.get("immutable") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(field_error("immutable", "must be true or false")),
        };
        let mut data = BTreeMap::new();
        for (k, val) in string_map(obj.get("data"), "data")? {
            let cleaned: String = val.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let bytes = STANDARD
                .decode(cleaned.as_bytes())
                .map_err(|_| Error::DataNotBase64 { key: k.clone() })?;
            data.insert(k, SecretBytes::new(bytes));
        }
        let string_data = string_map(obj.get("stringData"), "stringData")?
            .into_iter()
            .map(|(k, v)| (k, SecretBytes::new(v.into_bytes())))
            .collect();
        Ok(Self {
            metadata,
            type_,
            immutable,
            data,
            string_data,
        })
    }

    /// `data` with `stringData` merged over it, as the API server would store them.
    pub fn merged_data(&self) -> BTreeMap<String, SecretBytes> {
        let mut all = self.data.clone();
        for (k, v) in &self.string_data {
            all.insert(k.clone(), v.clone());
        }
        all
    }

    /// The Secret as JSON in the order Go encodes `v1.Secret`; `data` base64-encoded.
    ///
    /// The returned value holds secret material: render it and drop it quickly.
    pub fn to_value(&self) -> Value {
        let mut out = Map::new();
        out.insert("kind".into(), "Secret".into());
        out.insert("apiVersion".into(), "v1".into());
        out.insert("metadata".into(), self.metadata.to_value());
        if let Some(b) = self.immutable {
            out.insert("immutable".into(), Value::Bool(b));
        }
        let data = self.merged_data();
        if !data.is_empty() {
            let m = data
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(STANDARD.encode(v.expose()))))
                .collect();
            out.insert("data".into(), Value::Object(m));
        }
        if !self.type_.is_empty() {
            out.insert("type".into(), Value::String(self.type_.clone()));
        }
        Value::Object(out)
    }
}

fn field_error(field: &str, problem: &str) -> Error {
    Error::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

fn string_map(v: Option<&Value>, field: &str) -> Result<BTreeMap<String, String>, Error> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Null => Ok((k.clone(), String::new())),
                _ => Err(field_error(
                    &format!("{field}.{k}"),
                    "must be a string (quote numbers and booleans)",
                )),
            })
            .collect(),
        Some(_) => Err(field_error(field, "must be a mapping of key to value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_data_and_string_data_with_string_data_winning() {
        let s = Secret::from_value(&json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "n", "namespace": "ns"},
            "type": "Opaque",
            "data": {"a": "aGVsbG8=", "b": "eA=="},
            "stringData": {"b": "plain"}
        }))
        .unwrap();
        let m = s.merged_data();
        assert_eq!(m["a"].expose(), b"hello");
        assert_eq!(m["b"].expose(), b"plain");
        assert_eq!(s.to_value()["data"]["b"], "cGxhaW4=");
    }

    #[test]
    fn errors_name_the_key_but_not_the_value() {
        let e = Secret::from_value(&json!({"kind": "Secret", "data": {"pw": "not base64!!"}}))
            .unwrap_err();
        assert_eq!(e, Error::DataNotBase64 { key: "pw".into() });
        assert!(!e.to_string().contains("not base64!!"));
        let e = Secret::from_value(&json!({"kind": "Secret", "stringData": {"port": 5432}}))
            .unwrap_err();
        assert!(e.to_string().contains("stringData.port"), "{e}");
        let e = Secret::from_value(&json!({"kind": "ConfigMap"})).unwrap_err();
        assert!(e.to_string().contains("ConfigMap"));
    }
}
