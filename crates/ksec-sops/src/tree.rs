//! The document tree every store reads into and writes from: ordered maps,
//! sequences, typed scalars and comments, as sops models them (`TreeBranch`,
//! `TreeItem`, `Comment`).
//!
//! Plaintext values live here while a file is open; [`Document`] zeroizes every
//! string and byte buffer it owns when dropped.
use crate::{EmitOptions, Error, Format, TreePath};
use zeroize::{Zeroize, Zeroizing};

/// One node of a document.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// An ordered mapping (keys are strings; comments sit between entries).
    Map(Vec<Item>),
    /// A sequence; comments appear as [`Value::Comment`] elements.
    Seq(Vec<Value>),
    /// A string (encrypted values are strings `ENC[…]` before decryption).
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A timestamp, kept as RFC 3339 text the way Go's `time.Time` prints it.
    Time(String),
    /// Raw bytes (the binary store; never produced by text stores).
    Bytes(Vec<u8>),
    /// A comment (in sequences; map comments are [`Item::Comment`]).
    Comment(String),
    /// `null`: never encrypted, never part of the MAC.
    Null,
}

/// One entry of a mapping.
#[derive(Clone, PartialEq)]
pub enum Item {
    /// `key: value`.
    Entry(String, Value),
    /// A comment line (text after `#`/`;`, without the marker).
    Comment(String),
}

impl std::fmt::Debug for Value {
    // Values may be plaintext secrets: Debug shows only the shape.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Map(items) => f.debug_list().entries(items).finish(),
            Value::Seq(v) => f.debug_list().entries(v).finish(),
            Value::Str(_) => f.write_str("Str(..)"),
            Value::Int(_) => f.write_str("Int(..)"),
            Value::Float(_) => f.write_str("Float(..)"),
            Value::Bool(_) => f.write_str("Bool(..)"),
            Value::Time(_) => f.write_str("Time(..)"),
            Value::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Value::Comment(_) => f.write_str("Comment(..)"),
            Value::Null => f.write_str("Null"),
        }
    }
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Item::Entry(k, v) => write!(f, "{k:?}: {v:?}"),
            Item::Comment(_) => f.write_str("#.."),
        }
    }
}

impl Zeroize for Value {
    fn zeroize(&mut self) {
        match self {
            Value::Map(items) => items.iter_mut().for_each(Zeroize::zeroize),
            Value::Seq(v) => v.iter_mut().for_each(Zeroize::zeroize),
            Value::Str(s) | Value::Time(s) | Value::Comment(s) => s.zeroize(),
            Value::Bytes(b) => b.zeroize(),
            Value::Int(i) => *i = 0,
            Value::Float(x) => *x = 0.0,
            Value::Bool(b) => *b = false,
            Value::Null => {}
        }
    }
}

impl Zeroize for Item {
    fn zeroize(&mut self) {
        match self {
            Item::Entry(k, v) => {
                k.zeroize();
                v.zeroize();
            }
            Item::Comment(c) => c.zeroize(),
        }
    }
}

impl Value {
    /// The entry `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(items) => items.iter().find_map(|i| match i {
                Item::Entry(k, v) if k == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// The string content of a `Str` node.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Parses a JSON value (what `sops set` takes).
    pub fn from_json(text: &[u8]) -> Result<Value, Error> {
        crate::stores::json::parse_value(text)
    }

    /// The value as sops's `--extract` prints it: strings raw, anything else in
    /// `format` (YAML ends with a newline, JSON does not).
    pub fn emit(&self, format: Format, options: &EmitOptions) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(crate::stores::emit_value(format, self, options))
    }

    /// The text of a scalar as sops hands it to programs (`exec-env`, dotenv):
    /// booleans in lower case. `None` for collections and `null`.
    pub fn to_text(&self) -> Option<Zeroizing<String>> {
        let (bytes, _) = crate::cipher::leaf_bytes(self)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Some(Zeroizing::new(if matches!(self, Value::Bool(_)) {
            text.to_lowercase()
        } else {
            text
        }))
    }

    /// A short name of the node's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Map(_) => "mapping",
            Value::Seq(_) => "sequence",
            Value::Str(_) => "string",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Bool(_) => "boolean",
            Value::Time(_) => "timestamp",
            Value::Bytes(_) => "bytes",
            Value::Comment(_) => "comment",
            Value::Null => "null",
        }
    }
}

/// The data of a file: one branch (a top-level mapping) per document.
/// Multi-document YAML has several; every other store has one.
#[derive(Clone, Default, PartialEq)]
pub struct Document {
    /// Top-level mappings, in file order.
    pub branches: Vec<Vec<Item>>,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document")
            .field("branches", &self.branches)
            .finish()
    }
}

impl Drop for Document {
    fn drop(&mut self) {
        for b in &mut self.branches {
            b.iter_mut().for_each(Zeroize::zeroize);
        }
    }
}

impl Document {
    /// A document of one branch.
    pub fn single(items: Vec<Item>) -> Self {
        Self {
            branches: vec![items],
        }
    }

    /// Parses a plaintext file. A file that already has `sops` metadata is
    /// refused ([`Error::AlreadyEncrypted`]).
    pub fn parse(input: &[u8], format: Format) -> Result<Self, Error> {
        crate::stores::load_plain(format, input)
    }

    /// Writes the document as a plaintext file.
    pub fn emit(&self, format: Format, options: &EmitOptions) -> Result<Zeroizing<Vec<u8>>, Error> {
        crate::stores::emit_plain(format, self, options).map(Zeroizing::new)
    }

    /// The example sops opens the editor on for a new file.
    pub fn sops_example() -> Self {
        let item = |k: &str, v: Value| Item::Entry(k.to_string(), v);
        let s = |v: &str| Value::Str(v.to_string());
        Self::single(vec![
            item("hello", s("Welcome to SOPS! Edit this file as you please!")),
            item("example_key", s("example_value")),
            Item::Comment(" Example comment".into()),
            item(
                "example_array",
                Value::Seq(vec![s("example_value1"), s("example_value2")]),
            ),
            item("example_number", Value::Float(1234.56789)),
            item(
                "example_booleans",
                Value::Seq(vec![Value::Bool(true), Value::Bool(false)]),
            ),
        ])
    }

    /// The value at `path` in the first document.
    pub fn get(&self, path: &TreePath) -> Result<&Value, Error> {
        path.get(self.branches.first().map(Vec::as_slice).unwrap_or(&[]))
    }

    /// Sets the value at `path` in the first document.
    pub fn set(&mut self, path: &TreePath, value: Value) -> Result<(), Error> {
        path.set(self.first_branch(), value)
    }

    /// Removes the value at `path` in the first document.
    pub fn unset(&mut self, path: &TreePath) -> Result<(), Error> {
        path.unset(self.first_branch())
    }

    fn first_branch(&mut self) -> &mut Vec<Item> {
        if self.branches.is_empty() {
            self.branches.push(Vec::new());
        }
        &mut self.branches[0]
    }

    /// The top-level scalars of the first document as `NAME=text` pairs, as sops
    /// `exec-env` puts them in a program's environment.
    pub fn environment(&self) -> Vec<(String, Zeroizing<String>)> {
        self.branches
            .first()
            .into_iter()
            .flatten()
            .filter_map(|i| match i {
                Item::Entry(k, v) => v.to_text().map(|t| (k.clone(), t)),
                Item::Comment(_) => None,
            })
            .collect()
    }

    /// True if any branch has a top-level key `sops` (the file is encrypted already).
    pub fn has_sops_key(&self) -> bool {
        self.branches.iter().any(|b| {
            b.iter()
                .any(|i| matches!(i, Item::Entry(k, _) if k == "sops"))
        })
    }
}

/// Formats a float the way Go's `strconv.FormatFloat(f, 'f', -1, 64)` does (the text
/// sops encrypts and hashes): shortest round-trip digits, never an exponent.
pub(crate) fn go_float_f(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's Display is shortest-round-trip without exponent, like 'f' with -1.
    let s = format!("{x}");
    if s == "-0" {
        "-0".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_sops_example_file() {
        let sops_text = "hello: Welcome to SOPS! Edit this file as you please!\nexample_key: example_value\n# Example comment\nexample_array:\n    - example_value1\n    - example_value2\nexample_number: 1234.56789\nexample_booleans:\n    - true\n    - false\n";
        let example = Document::sops_example();
        assert_eq!(
            example,
            Document::parse(sops_text.as_bytes(), Format::Yaml).unwrap()
        );
        let text = example.emit(Format::Yaml, &EmitOptions::default()).unwrap();
        assert_eq!(text.as_slice(), sops_text.as_bytes());
    }

    #[test]
    fn environment_has_top_level_scalars() {
        let doc = Document::parse(b"A: 1\nB: true\nC: [1]\nD: text\n", Format::Yaml).unwrap();
        let env: Vec<(String, String)> = doc
            .environment()
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        assert_eq!(
            env,
            [("A", "1"), ("B", "true"), ("D", "text")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }
}
