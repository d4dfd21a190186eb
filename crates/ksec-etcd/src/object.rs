//! The objects kube-apiserver stores, decoded from their plaintext: the `k8s\0` protobuf
//! envelope (`runtime.Unknown` with `typeMeta`, `raw`) holding a `v1.Secret` or
//! `v1.ConfigMap`, or JSON (custom resources). Only what a recovered manifest needs is
//! decoded: name, namespace, labels, annotations, type, data, immutable. Decoding is
//! bounded by the value's length (the wire reader never recurses).
//!
//! Manifests are written into zeroizing buffers: they hold the Secret's values.
use crate::error::ValueError;
use crate::storage::PROTOBUF_MAGIC;
use crate::wire::{map_entry, Reader};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ksec_crypto::SecretBytes;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// A decoded stored object.
#[derive(Debug)]
#[non_exhaustive]
pub enum Object {
    /// A `v1` Secret.
    Secret(Secret),
    /// A `v1` ConfigMap.
    ConfigMap(ConfigMap),
    /// An object stored as JSON (custom resources), as stored.
    Json(serde_json::Value),
    /// A protobuf object of another kind: only its type is decoded.
    Other {
        /// `apiVersion`.
        api_version: String,
        /// `kind`.
        kind: String,
        /// Name and namespace, when they could be read.
        meta: Meta,
    },
}

/// The metadata a recovered manifest keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// A Secret. `Debug` shows the data keys, never the values.
#[derive(Debug, Default)]
pub struct Secret {
    /// Metadata.
    pub meta: Meta,
    /// `type` (`Opaque`, `kubernetes.io/tls`, …).
    pub type_: String,
    /// `data`, decoded.
    pub data: BTreeMap<String, SecretBytes>,
    /// `immutable`, when set.
    pub immutable: Option<bool>,
}

/// A ConfigMap.
#[derive(Debug, Default)]
pub struct ConfigMap {
    /// Metadata.
    pub meta: Meta,
    /// `data`.
    pub data: BTreeMap<String, String>,
    /// `binaryData`.
    pub binary_data: BTreeMap<String, Vec<u8>>,
    /// `immutable`, when set.
    pub immutable: Option<bool>,
}

fn bad(reason: impl Into<String>) -> ValueError {
    ValueError::Object {
        reason: reason.into(),
    }
}

/// Decodes a stored plaintext object.
pub fn decode(plain: &[u8]) -> Result<Object, ValueError> {
    if let Some(unknown) = plain.strip_prefix(PROTOBUF_MAGIC) {
        return decode_unknown(unknown);
    }
    if plain.first() == Some(&b'{') {
        // serde_json bounds nesting (128 levels) and the value's size bounds the rest.
        return serde_json::from_slice(plain)
            .map(Object::Json)
            .map_err(|e| bad(format!("invalid JSON object: {e}")));
    }
    Err(bad(
        "neither the k8s\\0 protobuf envelope nor JSON: not an object kube-apiserver wrote",
    ))
}

fn decode_unknown(b: &[u8]) -> Result<Object, ValueError> {
    let (mut api_version, mut kind, mut raw): (&str, &str, &[u8]) = ("", "", &[]);
    let mut r = Reader::new(b);
    while let Some((f, v)) = r.next_field().map_err(bad)? {
        match f {
            1 => {
                let mut t = Reader::new(v.bytes("typeMeta").map_err(bad)?);
                while let Some((f, v)) = t.next_field().map_err(bad)? {
                    match f {
                        1 => api_version = v.str("typeMeta.apiVersion").map_err(bad)?,
                        2 => kind = v.str("typeMeta.kind").map_err(bad)?,
                        _ => {}
                    }
                }
            }
            2 => raw = v.bytes("raw").map_err(bad)?,
            3 => {
                let enc = v.str("contentEncoding").map_err(bad)?;
                if !enc.is_empty() {
                    return Err(bad(format!("content encoding {enc:?} is not supported")));
                }
            }
            _ => {}
        }
    }
    match (api_version, kind) {
        ("v1", "Secret") => decode_secret(raw).map(Object::Secret),
        ("v1", "ConfigMap") => decode_config_map(raw).map(Object::ConfigMap),
        ("", _) | (_, "") => Err(bad("the protobuf envelope has no apiVersion/kind")),
        (a, k) => Ok(Object::Other {
            api_version: a.into(),
            kind: k.into(),
            meta: first_field(raw, 1)
                .map(decode_meta)
                .transpose()?
                .unwrap_or_default(),
        }),
    }
}

fn first_field(msg: &[u8], n: u32) -> Option<&[u8]> {
    let mut r = Reader::new(msg);
    while let Ok(Some((f, v))) = r.next_field() {
        if f == n {
            return v.bytes("").ok();
        }
    }
    None
}

fn decode_meta(b: &[u8]) -> Result<Meta, ValueError> {
    let mut m = Meta::default();
    let mut r = Reader::new(b);
    while let Some((f, v)) = r.next_field().map_err(bad)? {
        match f {
            1 => m.name = v.str("metadata.name").map_err(bad)?.into(),
            3 => m.namespace = v.str("metadata.namespace").map_err(bad)?.into(),
            11 | 12 => {
                let field = if f == 11 {
                    "metadata.labels"
                } else {
                    "metadata.annotations"
                };
                let (k, val) = map_entry(v.bytes(field).map_err(bad)?, field).map_err(bad)?;
                let val =
                    std::str::from_utf8(val).map_err(|_| bad(format!("{field}: not UTF-8")))?;
                let map = if f == 11 {
                    &mut m.labels
                } else {
                    &mut m.annotations
                };
                map.insert(k.into(), val.into());
            }
            _ => {}
        }
    }
    Ok(m)
}

fn decode_secret(b: &[u8]) -> Result<Secret, ValueError> {
    let mut s = Secret::default();
    let mut r = Reader::new(b);
    while let Some((f, v)) = r.next_field().map_err(bad)? {
        match f {
            1 => s.meta = decode_meta(v.bytes("metadata").map_err(bad)?)?,
            2 => {
                let (k, val) = map_entry(v.bytes("data").map_err(bad)?, "data").map_err(bad)?;
                s.data.insert(k.into(), SecretBytes::from_slice(val));
            }
            3 => s.type_ = v.str("type").map_err(bad)?.into(),
            // stringData (4) is write-only: the apiserver merges it into data before storing.
            5 => s.immutable = Some(v.varint("immutable").map_err(bad)? != 0),
            _ => {}
        }
    }
    Ok(s)
}

fn decode_config_map(b: &[u8]) -> Result<ConfigMap, ValueError> {
    let mut c = ConfigMap::default();
    let mut r = Reader::new(b);
    while let Some((f, v)) = r.next_field().map_err(bad)? {
        match f {
            1 => c.meta = decode_meta(v.bytes("metadata").map_err(bad)?)?,
            2 => {
                let (k, val) = map_entry(v.bytes("data").map_err(bad)?, "data").map_err(bad)?;
                let val = std::str::from_utf8(val).map_err(|_| bad("data: not UTF-8"))?;
                c.data.insert(k.into(), val.into());
            }
            3 => {
                let (k, val) =
                    map_entry(v.bytes("binaryData").map_err(bad)?, "binaryData").map_err(bad)?;
                c.binary_data.insert(k.into(), val.to_vec());
            }
            4 => c.immutable = Some(v.varint("immutable").map_err(bad)? != 0),
            _ => {}
        }
    }
    Ok(c)
}

/// A JSON writer into a zeroizing buffer, for manifests that hold secret values. The
/// same structure is written as YAML (block style; strings double-quoted when needed).
struct Writer {
    out: Zeroizing<String>,
    yaml: bool,
}

impl Writer {
    fn string(&mut self, s: &str) {
        if self.yaml && plain_yaml_ok(s) {
            self.out.push_str(s);
            return;
        }
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                c if (c as u32) < 0x20
                    || c == '\u{7f}'
                    || c == '\u{2028}'
                    || c == '\u{2029}'
                    || c == '\u{feff}'
                    || c == '\u{85}' =>
                {
                    self.out.push_str(&format!("\\u{:04x}", c as u32))
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    /// Writes a mapping of string fields at `indent` (YAML) or inline (JSON).
    fn map<'a>(&mut self, indent: usize, entries: impl Iterator<Item = (&'a str, Val<'a>)>) {
        let mut first = true;
        if !self.yaml {
            self.out.push('{');
        }
        for (k, v) in entries {
            if self.yaml {
                if !first || indent > 0 {
                    self.out.push('\n');
                }
                self.out.push_str(&" ".repeat(indent));
                self.string(k);
                self.out.push(':');
            } else {
                if !first {
                    self.out.push(',');
                }
                self.string(k);
                self.out.push(':');
            }
            first = false;
            match v {
                Val::Str(s) => {
                    if self.yaml {
                        self.out.push(' ');
                    }
                    self.string(s);
                }
                Val::Owned(s) => {
                    if self.yaml {
                        self.out.push(' ');
                    }
                    self.string(&s);
                }
                Val::Bool(b) => {
                    if self.yaml {
                        self.out.push(' ');
                    }
                    self.out.push_str(if b { "true" } else { "false" });
                }
                Val::Map(m) => self.map(indent + 2, m.into_iter()),
            }
        }
        if !self.yaml {
            self.out.push('}');
        }
    }
}

/// A value of the small tree a manifest is.
enum Val<'a> {
    Str(&'a str),
    /// Secret material (base64 of data values): zeroized after writing.
    Owned(Zeroizing<String>),
    Bool(bool),
    Map(Vec<(&'a str, Val<'a>)>),
}

/// A YAML plain scalar that reads back as the same string (not a number, bool, null…).
fn plain_yaml_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "nan" | "inf"
        )
}

fn meta_val(m: &Meta) -> Val<'_> {
    let mut e = vec![("name", Val::Str(&m.name))];
    if !m.namespace.is_empty() {
        e.push(("namespace", Val::Str(&m.namespace)));
    }
    for (field, map) in [("labels", &m.labels), ("annotations", &m.annotations)] {
        if !map.is_empty() {
            e.push((
                field,
                Val::Map(map.iter().map(|(k, v)| (k.as_str(), Val::Str(v))).collect()),
            ));
        }
    }
    Val::Map(e)
}

impl Object {
    /// The manifest of the object, as YAML (`yaml`) or compact JSON; `None` for
    /// [`Object::Other`], whose content is not decoded.
    pub fn manifest(&self, yaml: bool) -> Option<Zeroizing<String>> {
        let mut w = Writer {
            out: Zeroizing::new(String::new()),
            yaml,
        };
        match self {
            Object::Secret(s) => {
                let mut e = vec![
                    ("apiVersion", Val::Str("v1")),
                    ("kind", Val::Str("Secret")),
                    ("metadata", meta_val(&s.meta)),
                ];
                if let Some(i) = s.immutable {
                    e.push(("immutable", Val::Bool(i)));
                }
                if !s.type_.is_empty() {
                    e.push(("type", Val::Str(&s.type_)));
                }
                if !s.data.is_empty() {
                    let data = s
                        .data
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str(),
                                Val::Owned(Zeroizing::new(STANDARD.encode(v.expose()))),
                            )
                        })
                        .collect();
                    e.push(("data", Val::Map(data)));
                }
                w.map(0, e.into_iter());
            }
            Object::ConfigMap(c) => {
                let mut e = vec![
                    ("apiVersion", Val::Str("v1")),
                    ("kind", Val::Str("ConfigMap")),
                    ("metadata", meta_val(&c.meta)),
                ];
                if let Some(i) = c.immutable {
                    e.push(("immutable", Val::Bool(i)));
                }
                if !c.data.is_empty() {
                    e.push((
                        "data",
                        Val::Map(
                            c.data
                                .iter()
                                .map(|(k, v)| (k.as_str(), Val::Str(v)))
                                .collect(),
                        ),
                    ));
                }
                if !c.binary_data.is_empty() {
                    let bin = c
                        .binary_data
                        .iter()
                        .map(|(k, v)| (k.as_str(), Val::Owned(Zeroizing::new(STANDARD.encode(v)))))
                        .collect();
                    e.push(("binaryData", Val::Map(bin)));
                }
                w.map(0, e.into_iter());
            }
            Object::Json(v) => {
                let text = if yaml {
                    // JSON is YAML: one line per object keeps the stream valid.
                    serde_json::to_string(v).ok()?
                } else {
                    serde_json::to_string(v).ok()?
                };
                w.out.push_str(&text);
            }
            Object::Other { .. } => return None,
        }
        if yaml {
            w.out.push('\n');
        }
        Some(w.out)
    }

    /// `namespace/name` when known, for messages.
    pub fn display_name(&self) -> String {
        let meta = match self {
            Object::Secret(s) => &s.meta,
            Object::ConfigMap(c) => &c.meta,
            Object::Other { meta, .. } => meta,
            Object::Json(v) => {
                let m = &v["metadata"];
                return format!(
                    "{}/{}",
                    m["namespace"].as_str().unwrap_or(""),
                    m["name"].as_str().unwrap_or("")
                );
            }
        };
        format!("{}/{}", meta.namespace, meta.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds `k8s\0` + runtime.Unknown{typeMeta{v1, kind}, raw}.
    pub(crate) fn envelope(kind: &str, raw: &[u8]) -> Vec<u8> {
        fn field(out: &mut Vec<u8>, n: u8, b: &[u8]) {
            out.push(n << 3 | 2);
            let mut l = b.len();
            while l >= 0x80 {
                out.push((l as u8) | 0x80);
                l >>= 7;
            }
            out.push(l as u8);
            out.extend_from_slice(b);
        }
        let mut tm = vec![];
        field(&mut tm, 1, b"v1");
        field(&mut tm, 2, kind.as_bytes());
        let mut out = PROTOBUF_MAGIC.to_vec();
        field(&mut out, 1, &tm);
        field(&mut out, 2, raw);
        out
    }

    #[test]
    fn the_kmsv2_fixture_plaintext_is_a_secret() {
        let Some(dir) = std::env::var_os("KSEC_FIXTURES") else {
            return;
        };
        let p = std::path::Path::new(&dir).join("kubernetes/kmsv2-legacy/hkdfseed.plain.bin");
        let Ok(bytes) = std::fs::read(p) else { return };
        let Object::Secret(s) = decode(&bytes).unwrap() else {
            panic!("not a Secret")
        };
        assert_eq!(s.meta.name, "dek-source-hkdf-sha256-xnonce-aes-gcm-seed");
        assert_eq!(s.meta.namespace, "kms-v2-legacy-data");
        assert_eq!(s.type_, "Opaque");
        assert_eq!(
            s.data["api_key"].expose(),
            b"086a7ffc-0225-11e8-ba89-0ed5f89f718b"
        );
        assert!(!format!("{s:?}").contains("086a7ffc"), "Debug hides values");
    }

    #[test]
    fn manifests_in_yaml_and_json() {
        let mut meta = vec![];
        // metadata: name=db (1), namespace=prod (3), labels {app: "x y"} (11)
        meta.extend_from_slice(&[0x0a, 2, b'd', b'b', 0x1a, 4, b'p', b'r', b'o', b'd']);
        meta.extend_from_slice(&[
            0x5a, 10, 0x0a, 3, b'a', b'p', b'p', 0x12, 3, b'x', b' ', b'y',
        ]);
        let mut raw = vec![0x0a, meta.len() as u8];
        raw.extend_from_slice(&meta);
        raw.extend_from_slice(&[0x12, 9, 0x0a, 2, b'p', b'w', 0x12, 3, b'a', b'"', b'\n']);
        raw.extend_from_slice(&[0x1a, 6, b'O', b'p', b'a', b'q', b'u', b'e']);
        let obj = decode(&envelope("Secret", &raw)).unwrap();
        let yaml = obj.manifest(true).unwrap();
        assert_eq!(
            yaml.as_str(),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\n  labels:\n    app: \"x y\"\ntype: Opaque\ndata:\n  pw: YSIK\n"
        );
        let json = obj.manifest(false).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["data"]["pw"], "YSIK");
        assert_eq!(v["metadata"]["labels"]["app"], "x y");
        let back: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
        assert_eq!(back, v, "the YAML says the same as the JSON");
    }

    #[test]
    fn bad_objects_are_errors() {
        assert!(decode(b"plain text").is_err());
        assert!(decode(b"k8s\x00\x0a\x05\x0a").is_err());
        assert!(decode(b"{not json").is_err());
        let o = decode(&envelope("Pod", &[0x0a, 3, 0x0a, 1, b'p'])).unwrap();
        assert!(matches!(o, Object::Other { ref kind, .. } if kind == "Pod"));
        assert_eq!(o.display_name(), "/p");
    }

    proptest::proptest! {
        #[test]
        fn yaml_strings_read_back(s in "\\PC{0,20}") {
            let mut w = Writer { out: Zeroizing::new(String::new()), yaml: true };
            w.out.push_str("k: ");
            w.string(&s);
            let back: serde_json::Value = serde_norway::from_str(&w.out).unwrap();
            proptest::prop_assert_eq!(back["k"].as_str(), Some(s.as_str()));
        }
    }
}
