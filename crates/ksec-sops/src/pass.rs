//! The passes that encrypt and decrypt a document's leaves and compute its MAC.
//!
//! Each pass first walks the tree once, in document order, to apply the rules
//! (which need the key path and the comments above a value) and to list the
//! leaves with their additional data; then the cipher work — the bulk of the
//! time on a large file — is spread over every core, each thread taking a
//! contiguous run of leaves; the MAC (SHA-512 over the plaintext leaves in
//! order) is computed in one sequential sweep. Small files stay on one thread:
//! starting threads would cost more than it saves.
use crate::cipher::{leaf_bytes, StashEntry, ValueCipher};
use crate::rules::{Rules, MAC_ONLY_ENCRYPTED_INIT};
use crate::tree::{Document, Item, Value};
use crate::Error;
use ksec_crypto::hash::Sha512;

/// Below this many leaves a pass runs on one thread.
const PARALLEL_FROM: usize = 4096;

/// Where a leaf lives: a value (also a comment inside a sequence) or a comment
/// line of a mapping.
enum Slot<'a> {
    Value(&'a mut Value),
    Comment(&'a mut String),
}

/// One leaf of the document with what the cipher needs.
struct Leaf<'a> {
    slot: Slot<'a>,
    /// The key path joined with `:` plus a trailing `:` (sops's AAD).
    aad: String,
    encrypt: bool,
    is_comment: bool,
}

/// The path for messages (`a.b.c`) from its AAD.
pub(crate) fn shown(aad: &str) -> String {
    aad.strip_suffix(':').unwrap_or(aad).replace(':', ".")
}

impl Leaf<'_> {
    /// The value the MAC covers, if any: never a comment, judged by what the
    /// leaf holds now (a string `ENC[…]` of type `comment` in a file sops
    /// wrote turns into a comment once decrypted).
    fn in_mac(&self, rules: &Rules) -> Option<&Value> {
        if rules.mac_only_encrypted && !self.encrypt {
            return None;
        }
        match &self.slot {
            Slot::Value(Value::Comment(_)) | Slot::Comment(_) => None,
            Slot::Value(v) => Some(v),
        }
    }
}

/// Lists every leaf in document order with the rules' decision.
fn collect<'a>(doc: &'a mut Document, rules: &Rules) -> Vec<Leaf<'a>> {
    let mut out = Vec::new();
    for b in &mut doc.branches {
        collect_items(b, &mut Vec::new(), &mut Vec::new(), rules, &mut out);
    }
    out
}

fn aad(path: &[String]) -> String {
    let mut s = String::with_capacity(path.iter().map(|p| p.len() + 1).sum());
    for p in path {
        s.push_str(p);
        s.push(':');
    }
    if path.is_empty() {
        s.push(':');
    }
    s
}

fn push_comment(stack: &mut [Vec<String>], c: &str) {
    if let Some(l) = stack.last_mut() {
        l.push(c.to_string());
    }
}

fn collect_items<'a>(
    items: &'a mut [Item],
    path: &mut Vec<String>,
    stack: &mut Vec<Vec<String>>,
    rules: &Rules,
    out: &mut Vec<Leaf<'a>>,
) {
    stack.push(Vec::new());
    for item in items.iter_mut() {
        match item {
            Item::Comment(c) => {
                push_comment(stack, c);
                out.push(Leaf {
                    encrypt: rules.should_encrypt(path, stack, true),
                    aad: aad(path),
                    slot: Slot::Comment(c),
                    is_comment: true,
                });
            }
            Item::Entry(k, v) => {
                path.push(k.clone());
                collect_value(v, path, stack, rules, out);
                path.pop();
                if let Some(l) = stack.last_mut() {
                    l.clear();
                }
            }
        }
    }
    stack.pop();
}

fn collect_value<'a>(
    v: &'a mut Value,
    path: &mut Vec<String>,
    stack: &mut Vec<Vec<String>>,
    rules: &Rules,
    out: &mut Vec<Leaf<'a>>,
) {
    match v {
        Value::Map(items) => collect_items(items, path, stack, rules, out),
        Value::Seq(vals) => {
            stack.push(Vec::new());
            for x in vals.iter_mut() {
                let is_comment = if let Value::Comment(c) = x {
                    push_comment(stack, c);
                    true
                } else {
                    false
                };
                collect_value(x, path, stack, rules, out);
                if !is_comment {
                    if let Some(l) = stack.last_mut() {
                        l.clear();
                    }
                }
            }
            stack.pop();
        }
        Value::Null => {}
        _ => {
            let is_comment = matches!(v, Value::Comment(_));
            out.push(Leaf {
                encrypt: rules.should_encrypt(path, stack, is_comment),
                aad: aad(path),
                slot: Slot::Value(v),
                is_comment,
            });
        }
    }
}

/// Runs `job` on every leaf, on every core for a large document, and returns
/// what each thread gathered, or the first error in document order.
fn run<'a, T, F>(leaves: &mut [Leaf<'a>], job: F) -> Result<Vec<T>, Error>
where
    T: Send,
    F: Fn(&mut Leaf<'a>, &mut Vec<T>) -> Result<(), Error> + Sync,
{
    let threads = if leaves.len() < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(16)
    };
    let chunk = leaves.len().div_ceil(threads).max(1);
    let work = |part: &mut [Leaf<'a>]| -> Result<Vec<T>, Error> {
        let mut gathered = Vec::new();
        for leaf in part {
            job(leaf, &mut gathered)?;
        }
        Ok(gathered)
    };
    if threads == 1 {
        return work(leaves);
    }
    // Threads take contiguous runs, so the first failing run holds the first
    // error in document order.
    let results: Vec<Result<Vec<T>, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = leaves
            .chunks_mut(chunk)
            .map(|part| s.spawn(|| work(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or(Err(Error::Internal("a cipher thread panicked")))
            })
            .collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

fn mac_start(rules: &Rules) -> Sha512 {
    let mut h = Sha512::new();
    if rules.mac_only_encrypted {
        h.update(&MAC_ONLY_ENCRYPTED_INIT);
    }
    h
}

/// Hashes the MAC's leaves in document order.
fn mac_of(leaves: &[Leaf<'_>], rules: &Rules) -> String {
    let mut h = mac_start(rules);
    for leaf in leaves {
        if let Some((b, _)) = leaf.in_mac(rules).and_then(leaf_bytes) {
            h.update(&b);
        }
    }
    hex_upper(&h.finish())
}

fn hex_upper(d: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(d.len() * 2);
    for b in d {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// Encrypts every leaf the rules select, in place; returns the MAC (uppercase hex
/// SHA-512 over the plaintext leaves in document order).
pub(crate) fn encrypt_document(
    doc: &mut Document,
    cipher: &ValueCipher,
    rules: &Rules,
) -> Result<String, Error> {
    let mut leaves = collect(doc, rules);
    let mac = mac_of(&leaves, rules);
    run::<(), _>(&mut leaves, |leaf, _| {
        if !leaf.encrypt {
            return Ok(());
        }
        match &mut leaf.slot {
            Slot::Value(v) => {
                let s = cipher.encrypt(v, &leaf.aad)?;
                **v = if leaf.is_comment {
                    Value::Comment(s)
                } else {
                    Value::Str(s)
                };
            }
            Slot::Comment(c) => {
                let plain = Value::Comment(std::mem::take(*c));
                **c = cipher.encrypt(&plain, &leaf.aad)?;
            }
        }
        Ok(())
    })?;
    Ok(mac)
}

/// Decrypts every leaf the rules select, in place; returns the MAC of the
/// plaintext. With `remember`, the cipher keeps every value's IV so that
/// unchanged values are encrypted again to the same ciphertext.
pub(crate) fn decrypt_document(
    doc: &mut Document,
    cipher: &mut ValueCipher,
    rules: &Rules,
    remember: bool,
) -> Result<String, Error> {
    let mut leaves = collect(doc, rules);
    let shared: &ValueCipher = cipher;
    let stash: Vec<StashEntry> = run(&mut leaves, |leaf, stash| {
        if !leaf.encrypt {
            return Ok(());
        }
        let remember = remember.then_some(stash);
        let Leaf { slot, aad, .. } = leaf;
        match slot {
            // Comments written by sops before 3.x are not encrypted: keep them.
            Slot::Comment(c) => {
                if let Ok(Value::Comment(p)) = shared.open(c.as_str(), aad, None, remember) {
                    **c = p;
                }
            }
            Slot::Value(v) => match &mut **v {
                Value::Comment(c) => {
                    if let Ok(Value::Comment(p)) = shared.open(c.as_str(), aad, None, remember) {
                        **v = Value::Comment(p);
                    }
                }
                Value::Str(s) => {
                    let text = std::mem::take(s);
                    **v = shared.open(&text, aad, None, remember)?;
                }
                other => {
                    return Err(Error::NotEncrypted {
                        path: shown(aad),
                        kind: other.kind(),
                    })
                }
            },
        }
        Ok(())
    })?;
    cipher.remember(stash);
    Ok(mac_of(&leaves, rules))
}
