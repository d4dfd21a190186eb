//! The `SealedSecret` resource (`bitnami.com/v1alpha1`), read and written in the exact
//! shape kubeseal produces.
use crate::meta::ObjectMeta;
use crate::Error;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// API version of the CRD.
pub const API_VERSION: &str = "bitnami.com/v1alpha1";
/// Kind of the CRD.
pub const KIND: &str = "SealedSecret";

/// `spec.template`: the shape of the Secret the controller will create.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SecretTemplate {
    /// `spec.template.metadata`.
    pub metadata: ObjectMeta,
    /// `spec.template.type`.
    pub type_: String,
    /// `spec.template.immutable`.
    pub immutable: Option<bool>,
    /// `spec.template.data`: Go templates over the decrypted values (`None`: remove the key).
    pub data: BTreeMap<String, Option<String>>,
}

/// A SealedSecret.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SealedSecret {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `spec.template`.
    pub template: SecretTemplate,
    /// `spec.encryptedData`: key → base64 sealed value.
    pub encrypted_data: BTreeMap<String, String>,
    /// Legacy `spec.data` (the whole Secret sealed as one blob), base64.
    pub legacy_data: Option<String>,
    /// `status`, kept as is when read.
    pub status: Option<Value>,
}

fn field_error(field: &str, problem: String) -> Error {
    Error::Field {
        field: field.into(),
        problem,
    }
}

impl SealedSecret {
    /// Reads a SealedSecret from a parsed JSON/YAML document.
    pub fn from_value(v: &Value) -> Result<Self, Error> {
        let obj = v.as_object().ok_or(Error::NotAMapping { kind: KIND })?;
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if kind != KIND || (!api_version.is_empty() && api_version != API_VERSION) {
            return Err(Error::WrongKind {
                expected: KIND,
                expected_api_version: API_VERSION,
                found: kind.into(),
                found_api_version: Some(api_version.into()),
            });
        }
        let metadata = ObjectMeta::from_value(obj.get("metadata"))?;
        let empty = Map::new();
        let spec = match obj.get("spec") {
            Some(Value::Object(s)) => s,
            None | Some(Value::Null) => &empty,
            Some(_) => return Err(field_error("spec", "must be a mapping".into())),
        };
        let template = match spec.get("template") {
            None | Some(Value::Null) => SecretTemplate::default(),
            Some(Value::Object(t)) => SecretTemplate {
                metadata: ObjectMeta::from_value_at(t.get("metadata"), "spec.template.metadata")?,
                type_: t
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                immutable: t.get("immutable").and_then(Value::as_bool),
                data: match t.get("data") {
                    Some(Value::Object(d)) => d
                        .iter()
                        .map(|(k, v)| match v {
                            Value::String(s) => Ok((k.clone(), Some(s.clone()))),
                            Value::Null => Ok((k.clone(), None)),
                            _ => Err(field_error(
                                &format!("spec.template.data.{k}"),
                                "must be a string template or null".into(),
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => BTreeMap::new(),
                },
            },
            Some(_) => return Err(field_error("spec.template", "must be a mapping".into())),
        };
        let encrypted_data = match spec.get("encryptedData") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(d)) => d
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(field_error(
                        &format!("spec.encryptedData.{k}"),
                        "must be a base64 string".into(),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(field_error(
                    "spec.encryptedData",
                    "must be a mapping".into(),
                ))
            }
        };
        let legacy_data = spec.get("data").and_then(Value::as_str).map(str::to_string);
        Ok(Self {
            metadata,
            template,
            encrypted_data,
            legacy_data,
            status: obj.get("status").cloned(),
        })
    }

    /// The scope this SealedSecret's values were sealed for (from its own annotations,
    /// as the controller decides it).
    pub fn scope(&self) -> crate::Scope {
        crate::Scope::from_annotations(&self.metadata.annotations())
    }

    /// How many sealed values it holds: each `spec.encryptedData` value, and the legacy
    /// `spec.data` blob.
    pub fn sealed_value_count(&self) -> usize {
        self.encrypted_data.len() + usize::from(self.legacy_data.is_some())
    }

    /// The RSA-OAEP label its values must have been sealed with.
    pub fn label(&self) -> Vec<u8> {
        self.scope()
            .label(self.metadata.namespace(), self.metadata.name())
    }

    /// JSON in the field order of the Go types (what kubeseal prints). `status` is left
    /// out: it belongs to the cluster, not to files in git.
    pub fn to_value(&self) -> Value {
        let mut tpl = Map::new();
        tpl.insert("metadata".into(), self.template.metadata.to_value());
        if !self.template.type_.is_empty() {
            tpl.insert("type".into(), Value::String(self.template.type_.clone()));
        }
        if let Some(b) = self.template.immutable {
            tpl.insert("immutable".into(), Value::Bool(b));
        }
        if !self.template.data.is_empty() {
            let d = self
                .template
                .data
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.clone().map(Value::String).unwrap_or(Value::Null),
                    )
                })
                .collect();
            tpl.insert("data".into(), Value::Object(d));
        }
        let mut spec = Map::new();
        spec.insert("template".into(), Value::Object(tpl));
        if let Some(d) = &self.legacy_data {
            spec.insert("data".into(), Value::String(d.clone()));
        }
        let enc = self
            .encrypted_data
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        spec.insert("encryptedData".into(), Value::Object(enc));
        let mut out = Map::new();
        out.insert("kind".into(), KIND.into());
        out.insert("apiVersion".into(), API_VERSION.into());
        out.insert("metadata".into(), self.metadata.to_value());
        out.insert("spec".into(), Value::Object(spec));
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes_kubeseal_shape() {
        let v = json!({
            "kind": "SealedSecret", "apiVersion": "bitnami.com/v1alpha1",
            "metadata": {"name": "s", "namespace": "ns", "creationTimestamp": null},
            "spec": {
                "template": {"metadata": {"name": "s", "namespace": "ns", "creationTimestamp": null}, "type": "Opaque"},
                "encryptedData": {"b": "QkI=", "a": "QUE="}
            }
        });
        let s = SealedSecret::from_value(&v).unwrap();
        assert_eq!(s.encrypted_data.len(), 2);
        let out = s.to_value();
        assert_eq!(out, v);
        let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["kind", "apiVersion", "metadata", "spec"]);
    }

    #[test]
    fn rejects_other_kinds_and_bad_fields_by_name() {
        assert!(SealedSecret::from_value(&json!({"kind": "Secret"})).is_err());
        let e = SealedSecret::from_value(
            &json!({"kind": "SealedSecret", "spec": {"encryptedData": {"k": 1}}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("spec.encryptedData.k"));
    }
}
