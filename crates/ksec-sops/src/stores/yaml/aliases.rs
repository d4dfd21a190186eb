//! Anchors and aliases, expanded as sops expands them, within bounds.
//!
//! sops reads YAML with go-yaml v3, whose decoder refuses a document when
//! "excessive aliasing" makes up too large a share of the nodes it decodes
//! (`decode.go`: `allowedAliasRatio`). ksec applies the same rule with the same
//! counts: every node go-yaml's decoder visits (the document, mappings, keys,
//! values, sequence items, alias nodes) counts once, and every node reached
//! through an alias counts as aliased too. The rule only starts once a document
//! has more than 1000 nodes and more than 100 aliased ones; then at most 99% may
//! come from aliases up to 400,000 nodes, scaling down to 10% at 4,000,000.
//!
//! Because an expansion's size is known before it is copied (each anchor records
//! how many nodes and string bytes it holds), a refused file costs only what was
//! parsed before the alias: a 342-byte "billion laughs" is refused after a few
//! thousand nodes instead of allocating gigabytes.
//!
//! Two differences from sops, both deliberate:
//! - sops checks only the first document of a stream (its duplicate-key pre-pass
//!   decodes that one); ksec checks every document, as go-yaml would.
//! - Hard caps over the whole stream, which go-yaml does not have: at most
//!   [`MAX_ALIASED_NODES`] nodes and `64 × input + 64 KiB` string bytes may come
//!   from aliases (go strings are shared, ksec copies them), and an alias may not
//!   nest the document deeper than [`MAX_DEPTH`]. go-yaml's own ratio lets a
//!   document of fewer than 4 million nodes expand to at most ~1.2 million aliased
//!   nodes, so only documents far larger than any sops file meet the first cap.
use super::parse::Parser;
use crate::tree::Value;
use crate::Error;

/// The deepest nesting the parser accepts, with aliases expanded.
pub(super) const MAX_DEPTH: usize = 256;

/// At most this many nodes of one YAML stream may come from alias expansion.
pub(crate) const MAX_ALIASED_NODES: u64 = 4_000_000;

/// String bytes that alias expansion may copy, per input byte (plus a floor).
const ALIASED_BYTES_PER_INPUT_BYTE: u64 = 64;
const ALIASED_BYTES_FLOOR: u64 = 64 * 1024;

// go-yaml v3's thresholds (decode.go).
const RATIO_RANGE_LOW: u64 = 400_000;
const RATIO_RANGE_HIGH: u64 = 4_000_000;

/// The share of decoded nodes that may come from aliases, as go-yaml v3 allows it.
fn allowed_alias_ratio(decoded: u64) -> f64 {
    if decoded <= RATIO_RANGE_LOW {
        0.99
    } else if decoded >= RATIO_RANGE_HIGH {
        0.10
    } else {
        let span = (RATIO_RANGE_HIGH - RATIO_RANGE_LOW) as f64;
        0.99 - 0.89 * ((decoded - RATIO_RANGE_LOW) as f64 / span)
    }
}

/// go-yaml v3's "excessive aliasing" test for a document that has decoded
/// `decoded` nodes, `aliased` of them through aliases.
pub(super) fn excessive(decoded: u64, aliased: u64) -> bool {
    aliased > 100
        && decoded > 1000
        && aliased as f64 / decoded as f64 > allowed_alias_ratio(decoded)
}

/// An anchored node: its value and what expanding it costs.
pub(super) struct Anchor {
    value: Value,
    /// Nodes go-yaml's decoder visits for it (aliases inside it included).
    nodes: u64,
    /// Bytes of the strings (keys and scalars) it holds.
    string_bytes: u64,
    /// How many levels it nests.
    height: usize,
}

/// Counts that bound alias expansion: per document (go-yaml's rule) and per
/// stream (the hard caps).
#[derive(Default)]
pub(super) struct AliasBudget {
    /// Nodes decoded in the current document.
    decoded: u64,
    /// Of those, nodes reached through an alias.
    aliased: u64,
    /// Nodes copied by alias expansion in the whole stream.
    stream_aliased_nodes: u64,
    /// String bytes copied by alias expansion in the whole stream.
    stream_aliased_bytes: u64,
    /// String bytes of every key and scalar so far (aliases included).
    string_bytes: u64,
    /// The deepest level reached since the last [`Parser::mark`].
    deepest: usize,
}

/// Where an anchored node started: the counts to subtract when it ends.
pub(super) struct Mark {
    decoded: u64,
    string_bytes: u64,
    depth: usize,
    outer_deepest: usize,
}

impl AliasBudget {
    /// The nodes and aliased nodes counted so far in this document (for tests).
    pub(super) fn counts(&self) -> (u64, u64) {
        (self.decoded, self.aliased)
    }
}

impl Parser<'_> {
    /// A new document: go-yaml's counts start again (the document node is one).
    pub(super) fn start_document(&mut self) -> Result<(), Error> {
        self.budget.decoded = 0;
        self.budget.aliased = 0;
        self.count_node()
    }

    /// One node decoded outside any alias.
    pub(super) fn count_node(&mut self) -> Result<(), Error> {
        self.budget.decoded += 1;
        if excessive(self.budget.decoded, self.budget.aliased) {
            return self.fail(format!(
                "document contains excessive aliasing ({} of its first {} nodes come from aliases)",
                self.budget.aliased, self.budget.decoded
            ));
        }
        Ok(())
    }

    /// A key: one node, and its text.
    pub(super) fn count_key(&mut self, key: &str) -> Result<(), Error> {
        self.budget.string_bytes += key.len() as u64;
        self.count_node()
    }

    /// A scalar: one node, and its text.
    pub(super) fn count_scalar(&mut self, v: &Value) -> Result<(), Error> {
        self.budget.string_bytes += match v {
            Value::Str(s) | Value::Time(s) => s.len() as u64,
            _ => 0,
        };
        self.count_node()
    }

    /// Entering a nested node: refuses nesting deeper than [`MAX_DEPTH`].
    pub(super) fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail("nesting too deep");
        }
        self.budget.deepest = self.budget.deepest.max(self.depth);
        Ok(())
    }

    /// Remembers the counts before a node that carries an anchor.
    pub(super) fn mark(&mut self) -> Mark {
        let m = Mark {
            decoded: self.budget.decoded,
            string_bytes: self.budget.string_bytes,
            depth: self.depth,
            outer_deepest: self.budget.deepest,
        };
        self.budget.deepest = self.depth;
        m
    }

    /// Records `name` for the node read since `mark`.
    pub(super) fn define_anchor(&mut self, name: String, value: &Value, mark: Mark) {
        let anchor = Anchor {
            value: value.clone(),
            // Anchors may outlive the document that defined them (go-yaml keeps
            // them across documents too); a new document resets `decoded`.
            nodes: self.budget.decoded.saturating_sub(mark.decoded).max(1),
            string_bytes: self.budget.string_bytes - mark.string_bytes,
            height: self.budget.deepest.saturating_sub(mark.depth),
        };
        self.budget.deepest = self.budget.deepest.max(mark.outer_deepest);
        self.anchors.insert(name, anchor);
    }

    /// `*name` at the current position (after the `*`): a copy of the anchored
    /// node, if go-yaml's rule and the caps allow it.
    pub(super) fn expand_alias(&mut self) -> Result<Value, Error> {
        let line = self.line();
        let name = self.name();
        let Some(anchor) = self.anchors.get(name) else {
            return self.fail(format!("unknown alias *{name}"));
        };
        let (nodes, bytes, height) = (anchor.nodes, anchor.string_bytes, anchor.height);
        // The alias node itself, then everything under the anchor as aliased.
        // Within one expansion go-yaml's ratio only grows, so checking the end
        // state gives go-yaml's verdict without copying anything first.
        let b = &self.budget;
        let decoded = b.decoded + 1 + nodes;
        let aliased = b.aliased + nodes;
        let stream_nodes = b.stream_aliased_nodes + nodes;
        let stream_bytes = b.stream_aliased_bytes + bytes;
        let byte_cap = ALIASED_BYTES_FLOOR + ALIASED_BYTES_PER_INPUT_BYTE * self.bytes.len() as u64;
        let why = if excessive(decoded, aliased) {
            Some(format!(
                "document contains excessive aliasing: *{name} would make {aliased} of {decoded} nodes come from aliases"
            ))
        } else if stream_nodes > MAX_ALIASED_NODES {
            Some(format!(
                "document contains excessive aliasing: *{name} would expand aliases to more than {MAX_ALIASED_NODES} nodes"
            ))
        } else if stream_bytes > byte_cap {
            Some(format!(
                "document contains excessive aliasing: *{name} would copy more than {byte_cap} bytes of text through aliases"
            ))
        } else if self.depth + height > MAX_DEPTH {
            Some(format!(
                "*{name} would nest the document deeper than {MAX_DEPTH} levels"
            ))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(super::parse::parse_error(line, why));
        }
        let value = anchor.value.clone();
        let b = &mut self.budget;
        b.decoded = decoded;
        b.aliased = aliased;
        b.stream_aliased_nodes = stream_nodes;
        b.stream_aliased_bytes = stream_bytes;
        b.string_bytes += bytes;
        b.deepest = b.deepest.max(self.depth + height);
        Ok(value)
    }
}

/// Nodes of a value as go-yaml's decoder counts them (for tests).
#[cfg(test)]
pub(super) fn node_count(v: &Value) -> u64 {
    use crate::tree::Item;
    match v {
        Value::Map(items) => {
            1 + items
                .iter()
                .map(|i| match i {
                    Item::Entry(_, v) => 1 + node_count(v),
                    Item::Comment(_) => 0,
                })
                .sum::<u64>()
        }
        Value::Seq(vs) => 1 + vs.iter().map(node_count).sum::<u64>(),
        Value::Comment(_) => 0,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::{parse, parse_with_counts};
    use super::*;

    /// The classic: nine levels of nine aliases, 9^9 strings once expanded.
    pub(crate) const BILLION_LAUGHS: &str =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
";

    #[test]
    fn go_yaml_thresholds() {
        assert!(!excessive(1000, 999), "the rule starts above 1000 nodes");
        assert!(!excessive(5000, 100), "and above 100 aliased nodes");
        assert!(!excessive(5000, 4950));
        assert!(excessive(5000, 4951));
        assert!(!excessive(4_000_000, 400_000));
        assert!(excessive(4_000_000, 400_001));
        // Halfway through the range: 0.99 - 0.89 / 2 = 0.545.
        assert!(!excessive(2_200_000, 1_190_000));
        assert!(excessive(2_200_000, 1_210_000));
    }

    #[test]
    fn billion_laughs_is_refused_early_with_its_line() {
        let e = parse(BILLION_LAUGHS.as_bytes())
            .map(drop)
            .unwrap_err()
            .to_string();
        assert!(e.contains("excessive aliasing"), "{e}");
        // Level d (line 4) is the first to go over 99 % aliased nodes, where
        // sops 3.11 stops too.
        assert!(e.contains("line 4"), "{e}");
    }

    #[test]
    fn counts_follow_go_yaml() {
        // Document, mapping, 2 keys, a sequence with 3 items, an alias (1) whose
        // anchor holds 4 nodes.
        let (docs, (decoded, aliased)) = parse_with_counts(b"a: &x [1, 2, 3]\nb: *x\n").unwrap();
        assert_eq!((decoded, aliased), (1 + 1 + 2 + 4 + 1 + 4, 4));
        let tree = Value::Map(docs[0].clone());
        assert_eq!(
            node_count(&tree) + 1 + 1,
            decoded,
            "tree nodes + document + alias node"
        );
        // Nested anchors count the aliases inside them.
        let (_, (decoded, aliased)) =
            parse_with_counts(b"a: &x [1, 2]\nb: &y [*x, *x]\nc: *y\n").unwrap();
        // a: key + seq(3); b: key + seq + 2×(alias + 3); c: key + alias + 9.
        assert_eq!(decoded, 2 + 4 + 10 + 11);
        assert_eq!(aliased, 6 + 9);
    }

    /// A 400-item anchor aliased `n` times: sops 3.11 accepts 133 aliases
    /// (98.999 % of nodes from aliases) and refuses 134 (99.005 %).
    fn aliased_list(n: usize) -> String {
        let items: Vec<String> = (1..=400).map(|i| i.to_string()).collect();
        format!(
            "base: &b [{}]\nall: [{}]\n",
            items.join(", "),
            vec!["*b"; n].join(", ")
        )
    }

    #[test]
    fn the_boundary_is_where_sops_puts_it() {
        assert!(parse(aliased_list(133).as_bytes()).is_ok());
        match parse(aliased_list(134).as_bytes()) {
            Err(e) => {
                let e = e.to_string();
                assert!(
                    e.contains("excessive aliasing") && e.contains("line 2"),
                    "{e}"
                );
            }
            Ok(_) => panic!("134 aliases were accepted"),
        }
    }

    #[test]
    fn aliases_may_not_copy_much_more_text_than_the_input() {
        // One 30 KB string aliased 400 times: 12 MB of text from 32 KB of input.
        let mut y = format!("big: &s \"{}\"\nlist:\n", "x".repeat(30_000));
        for _ in 0..400 {
            y.push_str("  - *s\n");
        }
        let e = parse(y.as_bytes()).map(drop).unwrap_err().to_string();
        assert!(e.contains("bytes of text through aliases"), "{e}");
        // Ten copies are fine.
        let mut y = format!("big: &s \"{}\"\nlist:\n", "x".repeat(30_000));
        for _ in 0..10 {
            y.push_str("  - *s\n");
        }
        assert!(parse(y.as_bytes()).is_ok());
    }

    #[test]
    fn aliases_may_not_nest_deeper_than_the_limit() {
        let deep = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        let mut y = format!("a: &a {}\n", deep(200));
        y.push_str(&format!("b: &b {}*a{}\n", "[".repeat(100), "]".repeat(100)));
        let e = parse(y.as_bytes()).map(drop).unwrap_err().to_string();
        assert!(e.contains("deeper than 256"), "{e}");
        let mut y = format!("a: &a {}\n", deep(100));
        y.push_str(&format!("b: {}*a{}\n", "[".repeat(100), "]".repeat(100)));
        assert!(parse(y.as_bytes()).is_ok());
    }
}
