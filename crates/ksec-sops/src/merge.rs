//! Three-way merge of encrypted files (what a git merge driver needs).
//!
//! sops files conflict in git on every concurrent change, because `mac` and
//! `lastmodified` change with any edit (upstream issues #52, #666, #1117).
//! [`merge`] decrypts base, ours and theirs, merges the plaintext trees, and
//! encrypts the result again under the data key, so values that did not
//! change keep their ciphertexts (from whichever side they come) and only the
//! MAC and `lastmodified` are new.
//!
//! What merges: mapping entries changed, added or removed on one side only,
//! recursively; sequences and scalars replaced on one side only; the same
//! change on both sides. What conflicts: one value (or one sequence) changed
//! differently on both sides, a document count changed differently, or both
//! sides changed the keys (data key or recipients) differently. When only one
//! side changed the keys (a `rotate`, an `updatekeys`), the result takes that
//! side's keys, and the other side's changes are encrypted under them.
//!
//! A conflict returns only the key paths, never a value; the caller leaves its
//! side of the file, encrypted, where it was.
use crate::keys::Keyring;
use crate::locked::{LockedFile, MacCheck, OpenFile};
use crate::path::{PathSegment, TreePath};
use crate::tree::{Document, Item, Value};
use crate::{EmitOptions, Error, Format};

/// The result of a merge.
#[derive(Debug)]
pub enum MergeOutcome {
    /// The merged file, encrypted.
    Merged(Vec<u8>),
    /// The two sides disagree; nothing was written.
    Conflict(MergeConflict),
}

/// Why a merge did not succeed: names, never values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeConflict {
    /// The key paths both sides changed differently (`["db"]["password"]`).
    pub paths: Vec<String>,
    /// Both sides changed the file's keys, differently.
    pub keys_changed_on_both_sides: bool,
}

impl std::fmt::Display for MergeConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.keys_changed_on_both_sides {
            f.write_str("both sides changed the file's keys (data key or recipients) differently")?;
            if !self.paths.is_empty() {
                f.write_str("; ")?;
            }
        }
        if !self.paths.is_empty() {
            write!(f, "both sides changed {}", self.paths.join(", "))?;
        }
        Ok(())
    }
}

/// Merges `ours` and `theirs`, two descendants of `base` (`None` when the
/// file was added on both sides), all in `format`. Every side is unlocked with
/// `keys` and its MAC checked.
pub fn merge(
    base: Option<&[u8]>,
    ours: &[u8],
    theirs: &[u8],
    format: Format,
    keys: &Keyring,
    options: &EmitOptions,
) -> Result<MergeOutcome, Error> {
    let open = |bytes: &[u8]| LockedFile::parse(bytes, format)?.open(keys, MacCheck::Verify);
    let base_file = base.map(open).transpose()?;
    let ours_file = open(ours)?;
    let theirs_file = open(theirs)?;

    // Whose keys the result takes.
    let changed = |side: &OpenFile| match &base_file {
        Some(b) => !same_keys(side, b),
        None => false,
    };
    let (ours_changed, theirs_changed) = (changed(&ours_file), changed(&theirs_file));
    let both_differ = !same_keys(&ours_file, &theirs_file);
    let carrier_is_ours = match (ours_changed, theirs_changed) {
        _ if !both_differ => true,
        (true, false) => true,
        (false, true) => false,
        // Both changed the keys differently, or no base to tell who did.
        _ => {
            return Ok(MergeOutcome::Conflict(MergeConflict {
                paths: Vec::new(),
                keys_changed_on_both_sides: true,
            }))
        }
    };

    let empty = Document::default();
    let base_doc = base_file.as_ref().map_or(&empty, OpenFile::document);
    let mut conflicts = Vec::new();
    let merged = merge_plain(
        base_doc,
        ours_file.document(),
        theirs_file.document(),
        &mut conflicts,
    );
    if !conflicts.is_empty() {
        return Ok(MergeOutcome::Conflict(MergeConflict {
            paths: conflicts,
            keys_changed_on_both_sides: false,
        }));
    }
    let (mut carrier, other, carrier_bytes) = if carrier_is_ours {
        (ours_file, theirs_file, ours)
    } else {
        (theirs_file, ours_file, theirs)
    };
    // Nothing to change on the side whose keys are kept: its bytes as they are.
    if merged == *carrier.document() {
        return Ok(MergeOutcome::Merged(carrier_bytes.to_vec()));
    }
    // Values taken from the other side keep their ciphertexts when the data
    // key is the same.
    carrier.adopt_ciphertexts(&other);
    carrier.replace_document(merged);
    Ok(MergeOutcome::Merged(carrier.seal(options)?))
}

/// Same data key and same recipient groups.
fn same_keys(a: &OpenFile, b: &OpenFile) -> bool {
    a.data_key() == b.data_key()
        && a.metadata().key_groups.len() == b.metadata().key_groups.len()
        && a.metadata()
            .key_groups
            .iter()
            .zip(&b.metadata().key_groups)
            .all(|(x, y)| {
                let rx: Vec<_> = x.iter().map(|k| k.recipient()).collect();
                let ry: Vec<_> = y.iter().map(|k| k.recipient()).collect();
                rx.len() == ry.len() && rx.iter().all(|r| ry.contains(r))
            })
}

pub(crate) fn merge_plain(
    base: &Document,
    ours: &Document,
    theirs: &Document,
    conflicts: &mut Vec<String>,
) -> Document {
    let (b, o, t) = (&base.branches, &ours.branches, &theirs.branches);
    if same_branches(o, t) || same_branches(t, b) {
        return ours.clone();
    }
    if same_branches(o, b) {
        return theirs.clone();
    }
    if o.len() != t.len() {
        conflicts.push("(the number of documents)".into());
        return ours.clone();
    }
    let branches = o
        .iter()
        .zip(t)
        .enumerate()
        .map(|(i, (ob, tb))| {
            let bb = b.get(i).map(Vec::as_slice);
            merge_maps(bb, ob, tb, &mut Vec::new(), conflicts)
        })
        .collect();
    Document { branches }
}

/// One mapping entry with the comments that precede it.
struct Entry<'a> {
    comments: Vec<&'a str>,
    key: &'a str,
    value: &'a Value,
}

/// A mapping as entries (each with its leading comments) plus trailing comments.
fn entries(items: &[Item]) -> (Vec<Entry<'_>>, Vec<&str>) {
    let mut out = Vec::new();
    let mut pending = Vec::new();
    for i in items {
        match i {
            Item::Comment(c) => pending.push(c.as_str()),
            Item::Entry(k, v) => out.push(Entry {
                comments: std::mem::take(&mut pending),
                key: k,
                value: v,
            }),
        }
    }
    (out, pending)
}

fn merge_maps(
    base: Option<&[Item]>,
    ours: &[Item],
    theirs: &[Item],
    path: &mut Vec<PathSegment>,
    conflicts: &mut Vec<String>,
) -> Vec<Item> {
    let (b, b_tail) = base.map(entries).unwrap_or_default();
    let (o, o_tail) = entries(ours);
    let (t, t_tail) = entries(theirs);
    let find = |list: &[Entry<'_>], k: &str| list.iter().position(|e| e.key == k);
    // Ours' order, then what only theirs has, after its predecessor.
    let mut keys: Vec<&str> = o.iter().map(|e| e.key).collect();
    for (n, e) in t.iter().enumerate() {
        if !keys.contains(&e.key) {
            let at = (0..n)
                .rev()
                .find_map(|p| keys.iter().position(|k| *k == t[p].key).map(|i| i + 1))
                .unwrap_or(0);
            keys.insert(at.min(keys.len()), e.key);
        }
    }
    let mut out = Vec::new();
    for k in keys {
        let bo = find(&b, k).map(|i| &b[i]);
        let oo = find(&o, k).map(|i| &o[i]);
        let to = find(&t, k).map(|i| &t[i]);
        path.push(PathSegment::Key(k.to_string()));
        let comments = merge3(
            bo.map(|e| &e.comments),
            oo.map(|e| &e.comments),
            to.map(|e| &e.comments),
        )
        .unwrap_or_else(|| {
            // Comments that differ on both sides: keep ours, it is not a value.
            oo.or(to).map(|e| &e.comments)
        });
        let value = match merge3(
            bo.map(|e| e.value),
            oo.map(|e| e.value),
            to.map(|e| e.value),
        ) {
            Some(v) => v.cloned(),
            None => match (
                bo.map(|e| e.value),
                oo.map(|e| e.value),
                to.map(|e| e.value),
            ) {
                (base, Some(Value::Map(om)), Some(Value::Map(tm))) => {
                    let bm = match base {
                        Some(Value::Map(bm)) => Some(bm.as_slice()),
                        _ => None,
                    };
                    Some(Value::Map(merge_maps(bm, om, tm, path, conflicts)))
                }
                (_, ours_value, _) => {
                    conflicts.push(TreePath::from(path.clone()).to_string());
                    ours_value.cloned()
                }
            },
        };
        path.pop();
        if let Some(v) = value {
            if let Some(cs) = comments {
                out.extend(cs.iter().map(|c| Item::Comment((*c).to_string())));
            }
            out.push(Item::Entry(k.to_string(), v));
        }
    }
    let tail = merge3(Some(&b_tail), Some(&o_tail), Some(&t_tail))
        .flatten()
        .unwrap_or(&o_tail);
    out.extend(tail.iter().map(|c| Item::Comment((*c).to_string())));
    out
}

/// The three-way rule for one slot (`None`: absent): the same on both sides,
/// or changed on one side only. `None` when both changed it differently.
fn merge3<'a, T: Same + ?Sized>(
    base: Option<&'a T>,
    ours: Option<&'a T>,
    theirs: Option<&'a T>,
) -> Option<Option<&'a T>> {
    let eq = |a: Option<&T>, b: Option<&T>| match (a, b) {
        (Some(a), Some(b)) => a.same(b),
        (None, None) => true,
        _ => false,
    };
    if eq(ours, theirs) || eq(theirs, base) {
        Some(ours)
    } else if eq(ours, base) {
        Some(theirs)
    } else {
        None
    }
}

/// Equality for merging: floats by their bits, so an unchanged NaN is
/// unchanged.
trait Same {
    fn same(&self, other: &Self) -> bool;
}

impl Same for Vec<&str> {
    fn same(&self, other: &Self) -> bool {
        self == other
    }
}

impl Same for Value {
    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Map(a), Value::Map(b)) => same_items(a, b),
            (Value::Seq(a), Value::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
            }
            (a, b) => a == b,
        }
    }
}

fn same_items(a: &[Item], b: &[Item]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Item::Entry(k, v), Item::Entry(l, w)) => k == l && v.same(w),
            (Item::Comment(c), Item::Comment(d)) => c == d,
            _ => false,
        })
}

fn same_branches(a: &[Vec<Item>], b: &[Vec<Item>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_items(x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(y: &str) -> Document {
        Document::parse(y.as_bytes(), Format::Yaml).unwrap()
    }

    fn run(b: &str, o: &str, t: &str) -> (String, Vec<String>) {
        let mut c = Vec::new();
        let m = merge_plain(&doc(b), &doc(o), &doc(t), &mut c);
        let text = String::from_utf8(
            m.emit(Format::Yaml, &EmitOptions::default())
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        (text, c)
    }

    #[test]
    fn one_sided_changes_merge() {
        let (m, c) = run(
            "a: 1\nb: 2\nm:\n    x: 1\n    z: 2\n",
            "a: 10\nb: 2\nm:\n    x: 1\n    z: 2\nnew_o: o\n",
            "a: 1\nm:\n    x: 1\n    z: 20\nnew_t: t\n",
        );
        assert!(c.is_empty(), "{c:?}");
        // What only theirs added follows its predecessor there.
        assert_eq!(m, "a: 10\nm:\n    x: 1\n    z: 20\nnew_t: t\nnew_o: o\n");
    }

    #[test]
    fn the_same_value_changed_twice_conflicts_by_path_only() {
        let (_, c) = run(
            "db:\n    password: a\n",
            "db:\n    password: b\n",
            "db:\n    password: c\n",
        );
        assert_eq!(c, vec!["[\"db\"][\"password\"]".to_string()]);
        let (m, c) = run("l: [1, 2]\n", "l: [1, 3]\n", "l: [1, 3]\n");
        assert!(c.is_empty());
        assert!(m.contains("- 3"));
        let (_, c) = run("l: [1, 2]\n", "l: [1, 3]\n", "l: [1, 4]\n");
        assert_eq!(c, vec!["[\"l\"]".to_string()]);
    }

    #[test]
    fn removal_against_change_conflicts() {
        let (_, c) = run("a: 1\nb: 2\n", "b: 2\n", "a: 5\nb: 2\n");
        assert_eq!(c, vec!["[\"a\"]".to_string()]);
    }
}
