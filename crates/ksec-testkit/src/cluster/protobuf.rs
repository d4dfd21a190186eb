//! Request bodies in Kubernetes' protobuf encoding, turned into the JSON the store keeps.
//!
//! kubectl's typed clients (`kubectl create secret|configmap|namespace|serviceaccount|
//! role|rolebinding|clusterrole|clusterrolebinding`) send built-in objects as
//! `application/vnd.kubernetes.protobuf`, and client-go does not fall back to JSON when a
//! server refuses it. So the fake reads the envelope (`k8s\0` + `runtime.Unknown`) and the
//! messages of those kinds, with their field numbers from k8s.io/api's `generated.proto`;
//! other kinds get 415. Answers are always JSON, which kubectl accepts too.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

/// How a field is encoded and shown in JSON.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
    Time,
    RepeatedStr,
    MapStr,
    /// `map<string, bytes>`: the values as base64, as in JSON.
    MapBytes,
    Message(&'static Schema),
    RepeatedMessage(&'static Schema),
}

type Schema = [(u64, &'static str, Kind)];

const OWNER_REFERENCE: &Schema = &[
    (5, "apiVersion", Kind::Str),
    (1, "kind", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (6, "controller", Kind::Bool),
    (7, "blockOwnerDeletion", Kind::Bool),
];

const OBJECT_META: &Schema = &[
    (1, "name", Kind::Str),
    (2, "generateName", Kind::Str),
    (3, "namespace", Kind::Str),
    (5, "uid", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (7, "generation", Kind::Int),
    (8, "creationTimestamp", Kind::Time),
    (11, "labels", Kind::MapStr),
    (12, "annotations", Kind::MapStr),
    (
        13,
        "ownerReferences",
        Kind::RepeatedMessage(OWNER_REFERENCE),
    ),
    (14, "finalizers", Kind::RepeatedStr),
];

const SECRET: &Schema = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (5, "immutable", Kind::Bool),
    (2, "data", Kind::MapBytes),
    (4, "stringData", Kind::MapStr),
    (3, "type", Kind::Str),
];

const CONFIG_MAP: &Schema = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (4, "immutable", Kind::Bool),
    (2, "data", Kind::MapStr),
    (3, "binaryData", Kind::MapBytes),
];

const NAMESPACE: &Schema = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Message(&[(1, "finalizers", Kind::RepeatedStr)]),
    ),
];

const OBJECT_REFERENCE: &Schema = &[
    (1, "kind", Kind::Str),
    (2, "namespace", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (7, "fieldPath", Kind::Str),
];

const SERVICE_ACCOUNT: &Schema = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "secrets", Kind::RepeatedMessage(OBJECT_REFERENCE)),
    (
        3,
        "imagePullSecrets",
        Kind::RepeatedMessage(&[(1, "name", Kind::Str)]),
    ),
    (4, "automountServiceAccountToken", Kind::Bool),
];

const POLICY_RULE: &Schema = &[
    (1, "verbs", Kind::RepeatedStr),
    (2, "apiGroups", Kind::RepeatedStr),
    (3, "resources", Kind::RepeatedStr),
    (4, "resourceNames", Kind::RepeatedStr),
    (5, "nonResourceURLs", Kind::RepeatedStr),
];

const ROLE: &Schema = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "rules", Kind::RepeatedMessage(POLICY_RULE)),
];

const BINDING: &Schema = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (
        2,
        "subjects",
        Kind::RepeatedMessage(&[
            (1, "kind", Kind::Str),
            (2, "apiGroup", Kind::Str),
            (3, "name", Kind::Str),
            (4, "namespace", Kind::Str),
        ]),
    ),
    (
        3,
        "roleRef",
        Kind::Message(&[
            (1, "apiGroup", Kind::Str),
            (2, "kind", Kind::Str),
            (3, "name", Kind::Str),
        ]),
    ),
];

/// The kinds whose protobuf the fake reads: (apiVersion, kind, schema).
const KINDS: &[(&str, &str, &Schema)] = &[
    ("v1", "Secret", SECRET),
    ("v1", "ConfigMap", CONFIG_MAP),
    ("v1", "Namespace", NAMESPACE),
    ("v1", "ServiceAccount", SERVICE_ACCOUNT),
    ("rbac.authorization.k8s.io/v1", "Role", ROLE),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", ROLE),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", BINDING),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        BINDING,
    ),
];

/// The Content-Type of Kubernetes' protobuf encoding.
pub(super) const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Decodes a protobuf request body into the object's JSON. The error is the 415/400
/// message for the client.
pub(super) fn to_json(body: &[u8]) -> Result<Value, (u16, String)> {
    fn bad(why: &str) -> (u16, String) {
        (400, format!("the protobuf body is malformed: {why}"))
    }
    let envelope = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| bad("no k8s\\0 prefix"))?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for field in Fields(envelope) {
        match field.map_err(bad)? {
            (1, Wire::Bytes(type_meta)) => {
                for f in Fields(type_meta) {
                    match f.map_err(bad)? {
                        (1, Wire::Bytes(s)) => api_version = utf8(s).map_err(bad)?,
                        (2, Wire::Bytes(s)) => kind = utf8(s).map_err(bad)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    let Some((_, _, schema)) = KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
    else {
        return Err((
            415,
            format!(
                "the fake API reads protobuf bodies of Secrets, ConfigMaps, Namespaces, ServiceAccounts and RBAC objects only, not {kind} {api_version}; send JSON"
            ),
        ));
    };
    let mut obj = message(raw, schema).map_err(bad)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

fn message(bytes: &[u8], schema: &Schema) -> Result<Map<String, Value>, &'static str> {
    let mut out = Map::new();
    for field in Fields(bytes) {
        let (number, wire) = field?;
        let Some((_, name, kind)) = schema.iter().find(|(n, _, _)| *n == number) else {
            continue;
        };
        let name = name.to_string();
        match (kind, wire) {
            (Kind::Str, Wire::Bytes(b)) => {
                let s = utf8(b)?;
                if !s.is_empty() {
                    out.insert(name, json!(s));
                }
            }
            (Kind::Bool, Wire::Varint(v)) => {
                out.insert(name, json!(v != 0));
            }
            (Kind::Int, Wire::Varint(v)) => {
                out.insert(name, json!(v as i64));
            }
            (Kind::Time, Wire::Bytes(b)) => {
                let mut seconds = 0i64;
                for f in Fields(b) {
                    if let (1, Wire::Varint(v)) = f? {
                        seconds = v as i64;
                    }
                }
                if seconds != 0 {
                    let t = k8s_openapi::jiff::Timestamp::from_second(seconds)
                        .map_err(|_| "a timestamp out of range")?;
                    out.insert(name, json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
                }
            }
            (Kind::RepeatedStr, Wire::Bytes(b)) => push(&mut out, name, json!(utf8(b)?)),
            (Kind::MapStr | Kind::MapBytes, Wire::Bytes(b)) => {
                let (mut key, mut value) = (String::new(), Value::Null);
                for f in Fields(b) {
                    match f? {
                        (1, Wire::Bytes(k)) => key = utf8(k)?,
                        (2, Wire::Bytes(v)) if matches!(kind, Kind::MapBytes) => {
                            value = json!(STANDARD.encode(v));
                        }
                        (2, Wire::Bytes(v)) => value = json!(utf8(v)?),
                        _ => {}
                    }
                }
                if value.is_null() {
                    value = json!("");
                }
                let map = out.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = map.as_object_mut() {
                    m.insert(key, value);
                }
            }
            (Kind::Message(s), Wire::Bytes(b)) => {
                out.insert(name, Value::Object(message(b, s)?));
            }
            (Kind::RepeatedMessage(s), Wire::Bytes(b)) => {
                push(&mut out, name, Value::Object(message(b, s)?));
            }
            _ => return Err("a field has an unexpected wire type"),
        }
    }
    Ok(out)
}

fn push(out: &mut Map<String, Value>, name: String, v: Value) {
    if let Some(a) = out.entry(name).or_insert_with(|| json!([])).as_array_mut() {
        a.push(v);
    }
}

fn utf8(b: &[u8]) -> Result<String, &'static str> {
    String::from_utf8(b.to_vec()).map_err(|_| "a string is not UTF-8")
}

/// One field's value on the wire.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of a protobuf message, in order.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Wire<'a>), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        Some(self.field())
    }
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first().ok_or("a varint is cut short")?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint is too long")
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if n > self.0.len() {
            return Err("a field is cut short");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn field(&mut self) -> Result<(u64, Wire<'a>), &'static str> {
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed
            }
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| "a length is too large")?;
                Wire::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed
            }
            _ => return Err("an unknown wire type"),
        };
        Ok((key >> 3, wire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        [field(1, k.as_bytes()), field(2, v)].concat()
    }

    #[test]
    fn a_secret_in_protobuf_becomes_its_json() {
        let meta = [
            field(1, b"s1"),
            field(3, b"ns1"),
            field(11, &entry("app", b"web")),
        ]
        .concat();
        let secret = [
            field(1, &meta),
            field(2, &entry("password", b"\x00\xffhunter2")),
            field(3, b"Opaque"),
        ]
        .concat();
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &secret)].concat();
        let v = to_json(&body).unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"name": "s1", "namespace": "ns1", "labels": {"app": "web"}},
                   "data": {"password": STANDARD.encode(b"\x00\xffhunter2")},
                   "type": "Opaque", "apiVersion": "v1", "kind": "Secret"})
        );
    }

    #[test]
    fn unknown_kinds_and_broken_bodies_are_refused() {
        let type_meta = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta)].concat();
        assert_eq!(to_json(&body).unwrap_err().0, 415);
        assert_eq!(to_json(b"{}").unwrap_err().0, 400);
        let cut = [b"k8s\0".to_vec(), vec![0x0a, 0x7f, 1]].concat();
        assert_eq!(to_json(&cut).unwrap_err().0, 400);
    }
}
