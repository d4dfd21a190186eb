//! Changing who can open a file: `rotate` (a new data key, recipients added
//! or removed on the way), `updatekeys` (the recipients a creation rule names
//! now) and `groups add|delete`. Each is planned from the locked file (what
//! changes, which keys go) and then applied to the open file. Removing a key is
//! honest: whoever held it may have kept the data key, so a removal makes a new
//! data key and encrypts every value again. Adding keys keeps the data key and
//! the values' ciphertexts, as sops does.
use crate::{
    Config, EmitOptions, Error, KeyChanges, Keyring, LockedFile, MacCheck, OpenFile, Recipient,
    RecipientChanges,
};
use std::path::Path;

/// The keys of `before` that `after` no longer has, described.
fn removed_keys(before: &[Vec<Recipient>], after: &[Vec<Recipient>]) -> Vec<String> {
    before
        .iter()
        .flatten()
        .filter(|r| !after.iter().flatten().any(|a| a == *r))
        .map(Recipient::describe)
        .collect()
}

/// A planned `rotate`: a new data key for the file's recipients, or for them
/// with some added and removed.
#[derive(Clone, Debug)]
pub struct Rotation {
    groups: Option<Vec<Vec<Recipient>>>,
    removed: Vec<String>,
}

impl Rotation {
    /// Works out the recipients after `changes` (added to the first group,
    /// removed from every group), before anything is decrypted.
    pub fn plan(file: &LockedFile, changes: &RecipientChanges) -> Result<Self, Error> {
        if changes.is_empty() {
            return Ok(Rotation {
                groups: None,
                removed: Vec::new(),
            });
        }
        let before = file.metadata().recipients()?;
        let after = changes.apply(before.clone());
        Ok(Rotation {
            removed: removed_keys(&before, &after),
            groups: Some(after),
        })
    }

    /// The keys the rotation removes, described (empty when none is).
    pub fn removed(&self) -> &[String] {
        &self.removed
    }

    /// Encrypts the open file under a new data key for the planned recipients.
    pub fn apply(
        self,
        open: OpenFile,
        keys: &Keyring,
        options: &EmitOptions,
    ) -> Result<Vec<u8>, Error> {
        open.rotate(self.groups, keys, options)
    }
}

/// A planned `updatekeys`: the key groups and threshold a `.sops.yaml`
/// creation rule names for a file now, and how they differ from the file's.
#[derive(Clone, Debug)]
pub struct KeyUpdate {
    groups: Vec<Vec<Recipient>>,
    threshold: Option<u64>,
    changes: KeyChanges,
}

/// What applying a [`KeyUpdate`] did to the data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Updated {
    /// Keys were only added: the data key was wrapped for the new keys and
    /// every value kept its ciphertext.
    Rewrapped,
    /// Keys were removed (described): a new data key, every value encrypted
    /// again.
    Rekeyed(Vec<String>),
}

impl KeyUpdate {
    /// Compares `file`'s keys with the creation rule of `config` that matches
    /// `name` (the file's path, or the name that stands for it):
    /// [`Error::NoCreationRule`] when no rule does. A change of the Shamir
    /// threshold alone also makes the file out of date.
    pub fn plan(config: &Config, name: &Path, file: &LockedFile) -> Result<Self, Error> {
        let rule = config.rule_for(name).ok_or_else(|| Error::NoCreationRule {
            config: config.path.clone(),
            file: name.to_path_buf(),
        })?;
        let changes = KeyChanges::between(file.key_groups(), &rule.groups);
        let threshold_changed = rule.groups.len() > 1
            && rule.shamir_threshold.unwrap_or(rule.groups.len() as u64)
                != file.shares_needed() as u64;
        Ok(KeyUpdate {
            groups: rule.groups.clone(),
            threshold: rule.shamir_threshold,
            changes: KeyChanges {
                up_to_date: changes.up_to_date && !threshold_changed,
                ..changes
            },
        })
    }

    /// The keys added and removed, and whether the file is up to date.
    pub fn changes(&self) -> &KeyChanges {
        &self.changes
    }

    /// True if the file already has the rule's keys, groups and threshold.
    pub fn is_up_to_date(&self) -> bool {
        self.changes.up_to_date
    }

    /// Opens `file` (its MAC verified) and gives it the rule's keys: the same
    /// data key when keys are only added, a new one when any is removed.
    pub fn apply(
        self,
        file: LockedFile,
        keys: &Keyring,
        options: &EmitOptions,
    ) -> Result<(Vec<u8>, Updated), Error> {
        let mut open = file.open(keys, MacCheck::Verify)?;
        if self.changes.removed.is_empty() {
            open.set_recipients(&self.groups, self.threshold, keys)?;
            Ok((open.seal(options)?, Updated::Rewrapped))
        } else {
            let out = open.rekey(self.groups, self.threshold, keys, options)?;
            Ok((out, Updated::Rekeyed(self.changes.removed)))
        }
    }
}

/// A change of a file's key groups, as sops's `groups add` and `groups delete`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupChange {
    /// Add a key group of these recipients (the data key is kept; with several
    /// groups it is split again into Shamir shares).
    Add(Vec<Recipient>),
    /// Delete the key group at this index (0-based); its keys are removed.
    Delete(usize),
}

/// A planned change of key groups.
#[derive(Clone, Debug)]
pub struct GroupsUpdate {
    groups: Vec<Vec<Recipient>>,
    threshold: Option<u64>,
    removal: bool,
    removed: Vec<String>,
}

impl GroupsUpdate {
    /// Works out `file`'s key groups after `change`, with `threshold` (else the
    /// file's own) as the Shamir threshold. Refused when the group to delete
    /// does not exist ([`Error::NoSuchGroup`]) or the threshold would be above
    /// the number of groups, as sops refuses it ([`Error::ThresholdTooHigh`]).
    pub fn plan(
        file: &LockedFile,
        change: GroupChange,
        threshold: Option<u64>,
    ) -> Result<Self, Error> {
        let before = file.metadata().recipients()?;
        let mut groups = before.clone();
        let removal = match change {
            GroupChange::Add(group) => {
                groups.push(group);
                false
            }
            GroupChange::Delete(index) => {
                if index >= groups.len() {
                    return Err(Error::NoSuchGroup {
                        index,
                        groups: groups.len(),
                    });
                }
                groups.remove(index);
                true
            }
        };
        let threshold = threshold.or(file.metadata().shamir_threshold);
        if let Some(t) = threshold {
            if t as usize > groups.len() {
                return Err(Error::ThresholdTooHigh {
                    threshold: t,
                    groups: groups.len(),
                });
            }
        }
        Ok(GroupsUpdate {
            removed: if removal {
                removed_keys(&before, &groups)
            } else {
                Vec::new()
            },
            threshold: threshold.filter(|_| groups.len() > 1),
            groups,
            removal,
        })
    }

    /// The keys the change removes, described (empty when none is).
    pub fn removed(&self) -> &[String] {
        &self.removed
    }

    /// Applies the change to the open file: after a deletion a new data key
    /// encrypts every value again; after an addition the data key is kept.
    pub fn apply(
        self,
        mut open: OpenFile,
        keys: &Keyring,
        options: &EmitOptions,
    ) -> Result<Vec<u8>, Error> {
        if self.removal {
            open.rekey(self.groups, self.threshold, keys, options)
        } else {
            open.set_recipients(&self.groups, self.threshold, keys)?;
            open.seal(options)
        }
    }
}
