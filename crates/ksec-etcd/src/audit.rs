//! The audit verdict for each stored value, and the summary by storage kind and key;
//! [`audit`] runs both over every value of a [`Scope`].
use crate::error::ValueError;
use crate::source::{ReadObserver, Scope, Source};
use crate::storage::{classify, Storage};
use crate::Record;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// One audited value.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    /// The etcd key (lossy UTF-8; etcd keys of Kubernetes objects are ASCII).
    pub key: String,
    /// The revision the value was written at.
    pub revision: i64,
    /// False for a value only etcd's history still keeps.
    pub current: bool,
    /// How it is stored, or why that cannot be told.
    pub storage: Result<Storage, ValueError>,
}

/// What the audit concludes about one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Encrypted under a key that is not retired.
    Encrypted,
    /// Stored in plaintext.
    Plaintext,
    /// Encrypted under a key the policy marks as retired.
    RetiredKey,
    /// The value could not be classified.
    Unreadable,
}

/// What counts as a failure besides plaintext.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Retired keys: key names, KMS provider names or KMS v2 key ids.
    pub retired_keys: Vec<String>,
}

impl AuditEntry {
    /// Classifies one record.
    pub fn of(r: &Record) -> Self {
        Self {
            key: String::from_utf8_lossy(&r.key).into_owned(),
            revision: r.mod_revision,
            current: r.current,
            storage: classify(&r.value),
        }
    }

    /// The verdict under `policy`.
    pub fn verdict(&self, policy: &Policy) -> Verdict {
        match &self.storage {
            Err(_) => Verdict::Unreadable,
            Ok(s) if s.is_plaintext() => Verdict::Plaintext,
            Ok(s) if policy.retired_keys.iter().any(|k| s.uses_key(k)) => Verdict::RetiredKey,
            Ok(_) => Verdict::Encrypted,
        }
    }

    /// The JSON form: `{"key", "revision", "current", "storage": {…}}` or `"error"`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"key": self.key, "revision": self.revision, "current": self.current});
        match &self.storage {
            Ok(s) => v["storage"] = serde_json::to_value(s).unwrap_or(Value::Null),
            Err(e) => v["error"] = Value::String(e.to_string()),
        }
        v
    }
}

/// Counts by storage kind and key, and by verdict.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Values audited.
    pub values: u64,
    /// Storage → count; kept by value, so that counting costs no allocation per object.
    counts: HashMap<Storage, u64>,
    /// Current values in plaintext.
    pub plaintext: u64,
    /// Values only in etcd's history that are plaintext.
    pub plaintext_in_history: u64,
    /// Values under a retired key.
    pub retired: u64,
    /// Values that could not be classified.
    pub unreadable: u64,
}

impl Summary {
    /// Counts one entry; returns its verdict.
    pub fn add(&mut self, e: &AuditEntry, policy: &Policy) -> Verdict {
        self.values += 1;
        let verdict = e.verdict(policy);
        if let Ok(s) = &e.storage {
            match self.counts.get_mut(s) {
                Some(n) => *n += 1,
                None => {
                    self.counts.insert(s.clone(), 1);
                }
            }
        }
        match verdict {
            Verdict::Plaintext if e.current => self.plaintext += 1,
            Verdict::Plaintext => self.plaintext_in_history += 1,
            Verdict::RetiredKey => self.retired += 1,
            Verdict::Unreadable => self.unreadable += 1,
            Verdict::Encrypted => {}
        }
        verdict
    }

    /// (storage kind, key) → count, sorted; `unreadable` for values that could not be
    /// classified.
    pub fn by_storage(&self) -> BTreeMap<(String, String), u64> {
        let mut out = BTreeMap::new();
        for (s, n) in &self.counts {
            *out.entry((s.kind().to_string(), s.key_label()))
                .or_default() += n;
        }
        if self.unreadable > 0 {
            out.insert(("unreadable".to_string(), String::new()), self.unreadable);
        }
        out
    }

    /// True when anything is in plaintext (now or in history) or under a retired key.
    pub fn gate_failed(&self) -> bool {
        self.plaintext + self.plaintext_in_history + self.retired > 0
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "values": self.values,
            "plaintext": self.plaintext,
            "plaintextInHistory": self.plaintext_in_history,
            "retiredKey": self.retired,
            "unreadable": self.unreadable,
            "byStorage": self.by_storage().iter().map(|((kind, key), n)| json!({"storage": kind, "key": key, "count": n})).collect::<Vec<_>>(),
        })
    }
}

/// What an audit found: the summary, and whether every resource could be read.
#[derive(Clone, Debug, Default)]
pub struct AuditReport {
    /// The counts.
    pub summary: Summary,
    /// False when a resource could not be read to its end.
    pub complete: bool,
}

/// The conclusion of an audit, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Something could not be read or classified: the audit proves nothing about it.
    Incomplete,
    /// Everything was read, and something is in plaintext (now or in history) or under
    /// a retired key.
    Failed,
    /// Everything was read and is encrypted under a key that is not retired.
    Passed,
}

impl AuditReport {
    /// The conclusion: [`Outcome::Incomplete`] before [`Outcome::Failed`].
    pub fn outcome(&self) -> Outcome {
        if !self.complete || self.summary.unreadable > 0 {
            Outcome::Incomplete
        } else if self.summary.gate_failed() {
            Outcome::Failed
        } else {
            Outcome::Passed
        }
    }

    /// The JSON form: the [`Summary::to_json`] fields and `complete`.
    pub fn to_json(&self) -> Value {
        let mut v = self.summary.to_json();
        v["complete"] = self.complete.into();
        v
    }
}

/// Audits every value of `scope` in `source` under `policy`: each value is classified,
/// counted and handed to `each` with its verdict as it is read (a store may hold
/// millions of values, so rows are not collected), while `observer` hears the
/// progress and the resources that could not be read. An error of `each` stops the
/// audit.
pub async fn audit<E>(
    source: &Source,
    scope: &Scope,
    policy: &Policy,
    observer: &mut impl ReadObserver,
    mut each: impl FnMut(&AuditEntry, Verdict) -> Result<(), E>,
) -> Result<AuditReport, E> {
    let mut summary = Summary::default();
    let complete = source
        .read_each(scope, observer, async |_, r| {
            let e = AuditEntry::of(&r);
            let verdict = summary.add(&e, policy);
            each(&e, verdict)
        })
        .await?;
    Ok(AuditReport { summary, complete })
}

/// The [`Storage::key_label`] of the last storage seen, kept: neighbouring values
/// mostly share their storage, and building the label is the costliest part of
/// showing a row.
#[derive(Debug, Default)]
pub struct KeyLabels(Option<(Storage, String)>);

impl KeyLabels {
    /// `storage`'s key label (empty for plaintext).
    pub fn label(&mut self, storage: &Storage) -> &str {
        if self.0.as_ref().is_none_or(|(cached, _)| cached != storage) {
            self.0 = Some((storage.clone(), storage.key_label()));
        }
        self.0.as_ref().map_or("", |(_, l)| l.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, value: &[u8], current: bool) -> Record {
        // Long enough for every cipher's nonce, tag and block.
        let value = [value, &[0u8; 48]].concat();
        Record {
            key: key.as_bytes().to_vec().into(),
            value: value.into(),
            mod_revision: 7,
            create_revision: 5,
            version: 2,
            current,
        }
    }

    #[test]
    fn verdicts_and_summary() {
        let policy = Policy {
            retired_keys: vec!["old".into()],
        };
        let mut s = Summary::default();
        let cases = [
            (
                rec("/registry/secrets/a/1", b"k8s\x00..", true),
                Verdict::Plaintext,
            ),
            (
                rec("/registry/secrets/a/1", b"k8s\x00..", false),
                Verdict::Plaintext,
            ),
            (
                rec("/registry/secrets/a/2", b"k8s:enc:aescbc:v1:old:", true),
                Verdict::RetiredKey,
            ),
            (
                rec("/registry/secrets/a/3", b"k8s:enc:aesgcm:v1:new:xxxx", true),
                Verdict::Encrypted,
            ),
            (
                rec("/registry/secrets/a/4", b"k8s:enc:nope:v9:x:", true),
                Verdict::Unreadable,
            ),
        ];
        for (r, want) in &cases {
            let e = AuditEntry::of(r);
            assert_eq!(s.add(&e, &policy), *want, "{e:?}");
        }
        assert_eq!(
            (s.plaintext, s.plaintext_in_history, s.retired, s.unreadable),
            (1, 1, 1, 1)
        );
        assert!(s.gate_failed());
        assert_eq!(s.by_storage()[&("identity".to_string(), String::new())], 2);
        let j = AuditEntry::of(&cases[3].0).to_json();
        assert_eq!(j["storage"]["provider"], "aesgcm");
        assert_eq!(j["storage"]["key"], "new");
        assert!(AuditEntry::of(&cases[4].0).to_json()["error"]
            .as_str()
            .unwrap()
            .contains("unknown encryption prefix"));
    }
}
