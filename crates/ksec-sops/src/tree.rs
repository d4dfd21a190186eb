//! The document tree every store reads into and writes from: ordered maps,
//! sequences, typed scalars and comments, as sops models them (`TreeBranch`,
//! `TreeItem`, `Comment`).
//!
//! Plaintext values live here while a file is open; [`Document`] zeroizes every
//! string and byte buffer it owns when dropped.
use zeroize::Zeroize;

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
pub fn go_float_f(x: f64) -> String {
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
