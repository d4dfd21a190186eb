//! The YAML store (see [`parse`] and [`emit`] for why it is hand-written).
mod aliases;
mod cursor;
pub(crate) mod emit;
mod flow;
mod parse;
mod resolve;
mod scalar;

use crate::tree::Item;

pub(crate) use aliases::MAX_ALIASED_NODES;

/// Parses a YAML stream into one branch per document.
pub(crate) fn parse_documents(input: &[u8]) -> Result<Vec<Vec<Item>>, crate::Error> {
    parse::parse(input)
}

/// go-yaml's (decoded, aliased) node counts of the last document of `input`.
pub(crate) fn node_counts(input: &[u8]) -> Result<(u64, u64), crate::Error> {
    parse::parse_with_counts(input).map(|(_, counts)| counts)
}

/// Writes branches as a YAML stream (`---` between documents), each followed by
/// `extra` (the `sops` metadata entry) when given.
pub(crate) fn emit_documents(
    branches: &[Vec<Item>],
    extra: Option<&Item>,
    indent: usize,
) -> Vec<u8> {
    let mut out = String::new();
    for (n, b) in branches.iter().enumerate() {
        if n > 0 {
            out.push_str("---\n");
        }
        emit::emit_document(b, extra, indent, &mut out);
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        use emit::yaml_float;
        assert_eq!(yaml_float(12345678.5), "1.23456785e+07");
        assert_eq!(yaml_float(123456.0), "123456");
        assert_eq!(yaml_float(1e6), "1e+06");
        assert_eq!(yaml_float(0.0001), "0.0001");
        assert_eq!(yaml_float(0.00001), "1e-05");
        assert_eq!(yaml_float(2.5), "2.5");
        assert_eq!(yaml_float(-0.25), "-0.25");
    }

    #[test]
    fn merge_keys_and_tags() {
        let y = b"merged:\n    !!merge <<:\n        q: 1\n    z: 2\nother: 1\n";
        let d = parse_documents(y).unwrap();
        let out = String::from_utf8(emit_documents(&d, None, 4)).unwrap();
        assert_eq!(out, std::str::from_utf8(y).unwrap());
    }
}
