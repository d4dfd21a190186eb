//! Kubernetes `ObjectMeta`, kept the way Go's apimachinery decodes and re-encodes it:
//! known fields only, in the Go struct's order, `creationTimestamp: null` always present.
//! That order is what kubeseal prints, so our output diffs cleanly against kubeseal's.
use crate::Error;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// ObjectMeta fields in the order of the Go struct (k8s.io/apimachinery metav1.ObjectMeta).
const FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Annotations that hold a full copy of the applied object (with its secrets, in clear).
pub const LAST_APPLIED_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// An object's metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectMeta {
    fields: Map<String, Value>,
}

impl ObjectMeta {
    /// Reads metadata from JSON, dropping unknown fields as Go does. Fields of the wrong
    /// type are errors that name the field (`metadata.labels.app`).
    pub fn from_value(v: Option<&Value>) -> Result<Self, Error> {
        Self::from_value_at(v, "metadata")
    }

    /// [`ObjectMeta::from_value`] for metadata found at `path` (`spec.template.metadata`).
    pub(crate) fn from_value_at(v: Option<&Value>, path: &str) -> Result<Self, Error> {
        let invalid = |field: &str, problem: &str| Error::Field {
            field: if field.is_empty() {
                path.to_string()
            } else {
                format!("{path}.{field}")
            },
            problem: problem.into(),
        };
        let mut fields = Map::new();
        let Some(v) = v else {
            return Ok(Self { fields });
        };
        let obj = match v {
            Value::Object(o) => o,
            Value::Null => return Ok(Self { fields }),
            _ => return Err(invalid("", "must be a mapping")),
        };
        for &f in FIELDS {
            let Some(val) = obj.get(f) else { continue };
            match f {
                "name" | "generateName" | "namespace" | "selfLink" | "uid" | "resourceVersion"
                    if !(val.is_string() || val.is_null()) =>
                {
                    return Err(invalid(f, "must be a string"));
                }
                "labels" | "annotations" => {
                    if let Value::Object(m) = val {
                        if let Some((k, _)) = m.iter().find(|(_, v)| !v.is_string()) {
                            return Err(invalid(
                                &format!("{f}.{k}"),
                                "must be a string; quote it (\"true\", \"1\")",
                            ));
                        }
                    } else if !val.is_null() {
                        return Err(invalid(f, "must be a mapping of strings"));
                    }
                }
                _ => {}
            }
            if !val.is_null() {
                fields.insert(f.to_string(), val.clone());
            }
        }
        Ok(Self { fields })
    }

    /// The metadata as JSON in Go's field order, with `creationTimestamp: null` when unset.
    pub fn to_value(&self) -> Value {
        let mut out = Map::new();
        for &f in FIELDS {
            match self.fields.get(f) {
                Some(v) if !is_empty(v) => {
                    out.insert(f.to_string(), v.clone());
                }
                _ if f == "creationTimestamp" => {
                    out.insert(f.to_string(), Value::Null);
                }
                _ => {}
            }
        }
        Value::Object(out)
    }

    fn str_field(&self, f: &str) -> &str {
        self.fields.get(f).and_then(Value::as_str).unwrap_or("")
    }

    /// `metadata.name` ("" when unset).
    pub fn name(&self) -> &str {
        self.str_field("name")
    }

    /// `metadata.namespace` ("" when unset).
    pub fn namespace(&self) -> &str {
        self.str_field("namespace")
    }

    /// Sets `metadata.name`.
    pub fn set_name(&mut self, name: &str) {
        self.fields
            .insert("name".into(), Value::String(name.into()));
    }

    /// Sets `metadata.namespace`.
    pub fn set_namespace(&mut self, ns: &str) {
        self.fields
            .insert("namespace".into(), Value::String(ns.into()));
    }

    fn string_map(&self, f: &str) -> BTreeMap<String, String> {
        match self.fields.get(f) {
            Some(Value::Object(m)) => m
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    fn set_string_map(&mut self, f: &str, m: BTreeMap<String, String>) {
        if m.is_empty() {
            self.fields.remove(f);
        } else {
            let obj = m.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            self.fields.insert(f.into(), Value::Object(obj));
        }
    }

    /// `metadata.annotations`.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.string_map("annotations")
    }

    /// Replaces `metadata.annotations` (removed when empty).
    pub fn set_annotations(&mut self, a: BTreeMap<String, String>) {
        self.set_string_map("annotations", a)
    }

    /// `metadata.labels`.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.string_map("labels")
    }

    /// Replaces `metadata.labels` (removed when empty).
    pub fn set_labels(&mut self, l: BTreeMap<String, String>) {
        self.set_string_map("labels", l)
    }

    /// Removes a field.
    pub fn remove(&mut self, field: &str) {
        self.fields.remove(field);
    }

    /// Strips what the server sets (kubeseal's "read-only server-side ObjectMeta").
    pub fn strip_server_fields(&mut self) {
        for f in [
            "selfLink",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            self.fields.remove(f);
        }
    }

    /// Strips the last-applied-configuration annotations, which hold the object in clear.
    pub fn strip_last_applied(&mut self) {
        let mut a = self.annotations();
        for k in LAST_APPLIED_ANNOTATIONS {
            a.remove(*k);
        }
        self.set_annotations(a);
    }
}

/// Go's `omitempty`: empty strings, maps and lists and zero numbers are left out.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_go_order_and_drops_unknown_fields() {
        let m = ObjectMeta::from_value(Some(&json!({
            "annotations": {"b": "2", "a": "1"},
            "namespace": "ns",
            "bogus": 1,
            "name": "n",
            "labels": {}
        })))
        .unwrap();
        let v = m.to_value();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["name", "namespace", "creationTimestamp", "annotations"]
        );
        assert_eq!(v["creationTimestamp"], Value::Null);
    }

    #[test]
    fn non_string_label_is_named() {
        let e = ObjectMeta::from_value(Some(&json!({"labels": {"enabled": true}}))).unwrap_err();
        assert!(
            matches!(&e, Error::Field { field, .. } if field == "metadata.labels.enabled"),
            "{e}"
        );
    }

    #[test]
    fn strips_last_applied_and_server_fields() {
        let mut m = ObjectMeta::from_value(Some(&json!({
            "name": "n", "uid": "u", "resourceVersion": "5", "creationTimestamp": "2020-01-01T00:00:00Z",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{secret}", "keep": "x"}
        })))
        .unwrap();
        m.strip_server_fields();
        m.strip_last_applied();
        let v = m.to_value();
        assert_eq!(
            v,
            json!({"name": "n", "creationTimestamp": null, "annotations": {"keep": "x"}})
        );
    }
}
