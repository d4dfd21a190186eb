//! `rotate` (a new data key), `updatekeys` (the recipients `.sops.yaml` names
//! now) and `groups add|delete`. Removing a key is honest: whoever held it may
//! have kept the data key, so a removal makes a new data key and encrypts every
//! value again, and says so. Adding keys keeps the data key and the values'
//! ciphertexts (a quiet re-encryption, as sops does).
use super::{
    emit_options, encryption_context, exit, formats, keyring, list, load_config, shown, write_out,
    Common,
};
use crate::io;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use ksec_sops::{KeyChanges, Keyring, LockedFile, MacCheck, Recipient, RecipientChanges};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `rotate`'s key changes.
#[derive(Args, Debug, Clone, Default)]
pub struct RotateFlags {
    /// Add these age recipients (comma-separated).
    #[arg(long = "add-age")]
    add_age: Option<String>,
    /// Remove these age recipients (comma-separated).
    #[arg(long = "rm-age")]
    rm_age: Option<String>,
    /// Add these PGP fingerprints (comma-separated).
    #[arg(long = "add-pgp")]
    add_pgp: Option<String>,
    /// Remove these PGP fingerprints (comma-separated).
    #[arg(long = "rm-pgp")]
    rm_pgp: Option<String>,
    /// Add these AWS KMS keys (comma-separated ARN[+ROLE_ARN]; with
    /// --encryption-context and --aws-profile).
    #[arg(long = "add-kms")]
    add_kms: Option<String>,
    /// Remove these AWS KMS keys (as added: the same context and profile).
    #[arg(long = "rm-kms")]
    rm_kms: Option<String>,
    /// Add these Vault Transit keys (comma-separated URIs).
    #[arg(long = "add-hc-vault-transit")]
    add_hc_vault_transit: Option<String>,
    /// Remove these Vault Transit keys (comma-separated URIs).
    #[arg(long = "rm-hc-vault-transit")]
    rm_hc_vault_transit: Option<String>,
}

/// Recipients of the comma lists of age, PGP, KMS and Vault keys given.
fn recipients(
    c: &Common,
    age: &Option<String>,
    pgp: &Option<String>,
    kms: &Option<String>,
    vault: &Option<String>,
) -> Result<Vec<Recipient>> {
    let context = encryption_context(c)?;
    let mut out: Vec<Recipient> = list(age).iter().map(|a| Recipient::age(a)).collect();
    out.extend(list(pgp).iter().map(|p| Recipient::pgp(p)));
    out.extend(
        list(kms)
            .iter()
            .map(|k| Recipient::kms(k, &context, c.aws_profile.as_deref())),
    );
    for uri in list(vault) {
        out.push(Recipient::hc_vault(&uri)?);
    }
    Ok(out)
}

impl RotateFlags {
    pub(super) fn changes(&self, c: &Common) -> Result<RecipientChanges> {
        Ok(RecipientChanges {
            add: recipients(
                c,
                &self.add_age,
                &self.add_pgp,
                &self.add_kms,
                &self.add_hc_vault_transit,
            )?,
            remove: recipients(
                c,
                &self.rm_age,
                &self.rm_pgp,
                &self.rm_kms,
                &self.rm_hc_vault_transit,
            )?,
        })
    }
}

/// Prints what a removal did to the data key.
fn say_rekeyed(file: &Path, removed: &[String]) {
    eprintln!(
        "{}: removed {}; a new data key was made and every value encrypted again (the removed keys could have kept the old one)",
        file.display(),
        removed.join(", ")
    );
}

pub(super) fn rotate(c: &Common, file: &Path, flags: &RotateFlags) -> Result<ExitCode> {
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let keys = keyring(c);
    let changes = flags.changes(c)?;
    let mut removed = Vec::new();
    let out = (|| -> Result<Vec<u8>> {
        let locked = LockedFile::parse(&input, inf)?;
        // With changes, the new recipients are worked out before decrypting.
        let groups = if changes.is_empty() {
            None
        } else {
            let before = locked.metadata().recipients()?;
            let after = changes.apply(before.clone());
            removed = before
                .iter()
                .flatten()
                .filter(|r| !after.iter().flatten().any(|a| a == *r))
                .map(Recipient::describe)
                .collect();
            Some(after)
        };
        Ok(locked
            .open(&keys, MacCheck::Verify)?
            .rotate(groups, &keys, &emit_options(c))?)
    })()
    .with_context(|| shown(Some(file)))?;
    write_out(c, Some(file), &out)?;
    if !removed.is_empty() {
        say_rekeyed(file, &removed);
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn updatekeys(c: &Common, files: &[PathBuf], yes: bool) -> Result<ExitCode> {
    let mut code = ExitCode::SUCCESS;
    for file in files {
        if file.is_dir() {
            return super::batch::updatekeys_dir(c, file, yes);
        }
        let r = updatekeys_one(c, file, yes)?;
        if r != ExitCode::SUCCESS {
            code = r;
        }
    }
    Ok(code)
}

/// What updatekeys did to one file.
pub(super) enum Updated {
    /// The data key was wrapped for the new keys; values kept.
    Rewrapped,
    /// A key was dropped: new data key, every value encrypted again.
    Rekeyed(Vec<String>),
}

/// The keys `.sops.yaml` names now for `file`, and how they differ from its own.
pub(super) fn rule_changes(
    c: &Common,
    file: &Path,
    locked: &LockedFile,
) -> Result<(Vec<Vec<Recipient>>, Option<u64>, KeyChanges)> {
    let cfg =
        load_config(c)?.context("updatekeys needs a .sops.yaml (none found; use --config)")?;
    let rule = cfg
        .rule_for(c.filename_override.as_deref().unwrap_or(file))
        .with_context(|| {
            format!(
                "no creation rule in {} matches {}",
                cfg.path.display(),
                file.display()
            )
        })?;
    let changes = KeyChanges::between(locked.key_groups(), &rule.groups);
    let threshold_changed = rule.groups.len() > 1
        && rule.shamir_threshold.unwrap_or(rule.groups.len() as u64)
            != locked.shares_needed() as u64;
    let changes = KeyChanges {
        up_to_date: changes.up_to_date && !threshold_changed,
        ..changes
    };
    Ok((rule.groups.clone(), rule.shamir_threshold, changes))
}

/// Applies a creation rule's keys to an unlocked file: same data key when
/// only keys are added, a new one when any is removed.
pub(super) fn apply_rule(
    c: &Common,
    locked: LockedFile,
    groups: &[Vec<Recipient>],
    threshold: Option<u64>,
    changes: &KeyChanges,
    keys: &Keyring,
) -> Result<(Vec<u8>, Updated)> {
    let mut open = locked.open(keys, MacCheck::Verify)?;
    if changes.removed.is_empty() {
        open.set_recipients(groups, threshold, keys)?;
        Ok((open.seal(&emit_options(c))?, Updated::Rewrapped))
    } else {
        let out = open.rekey(groups.to_vec(), threshold, keys, &emit_options(c))?;
        Ok((out, Updated::Rekeyed(changes.removed.clone())))
    }
}

fn updatekeys_one(c: &Common, file: &Path, yes: bool) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let locked = LockedFile::parse(&input, inf).with_context(|| shown(Some(file)))?;
    let (groups, threshold, changes) = rule_changes(c, file, &locked)?;
    if changes.up_to_date {
        eprintln!("{}: already up to date", file.display());
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "The following changes will be made to the file's groups ({}):",
        file.display()
    );
    for id in &changes.added {
        eprintln!("+++ {id}");
    }
    for id in &changes.removed {
        eprintln!("--- {id}");
    }
    if !changes.removed.is_empty() {
        eprintln!("Removing keys makes a new data key and encrypts every value again.");
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!("not a terminal: pass -y to apply the changes");
        }
        eprint!("Is this okay? (y/n): ");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !line.trim().eq_ignore_ascii_case("y") {
            eprintln!("changes not applied");
            return Ok(ExitCode::from(exit::ERROR));
        }
    }
    let keys = keyring(c);
    let (out, what) = apply_rule(c, locked, &groups, threshold, &changes, &keys)
        .with_context(|| shown(Some(file)))?;
    io::write_atomic(file, &out, 0o600)?;
    if let Updated::Rekeyed(removed) = what {
        say_rekeyed(file, &removed);
    }
    Ok(ExitCode::SUCCESS)
}

/// `groups add` and `groups delete`, as sops has them.
#[derive(Subcommand, Debug)]
pub enum GroupsCommand {
    /// Add a key group (the data key is kept; with several groups it is split
    /// again into Shamir shares).
    Add {
        #[command(flatten)]
        flags: GroupFlags,
        /// age recipients of the new group (repeatable).
        #[arg(long = "age")]
        age: Vec<String>,
        /// PGP fingerprints of the new group (repeatable).
        #[arg(long = "pgp")]
        pgp: Vec<String>,
        /// AWS KMS keys of the new group, ARN[+ROLE_ARN] (repeatable).
        #[arg(long = "kms")]
        kms: Vec<String>,
        /// Vault Transit key URIs of the new group (repeatable).
        #[arg(long = "hc-vault-transit")]
        hc_vault_transit: Vec<String>,
        /// The AWS profile of the KMS keys.
        #[arg(long = "aws-profile")]
        aws_profile: Option<String>,
        /// The encryption context of the KMS keys: key:value,key2:value2.
        #[arg(long = "encryption-context")]
        encryption_context: Option<String>,
    },
    /// Delete the key group at INDEX (0-based). Its keys are removed: a new
    /// data key encrypts every value again.
    Delete {
        #[command(flatten)]
        flags: GroupFlags,
        /// The group's index.
        index: usize,
    },
}

/// Flags of both `groups` commands.
#[derive(Args, Debug, Clone)]
pub struct GroupFlags {
    /// The file.
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    /// Write the result back to the file.
    #[arg(short = 'i', long = "in-place")]
    in_place: bool,
    /// Shares needed with several key groups.
    #[arg(long = "shamir-secret-sharing-threshold")]
    shamir: Option<u64>,
    /// Comma-separated key types in the order to try them (default age,pgp).
    #[arg(long = "decryption-order", env = "SOPS_DECRYPTION_ORDER")]
    decryption_order: Option<String>,
}

impl GroupFlags {
    fn common(&self) -> Common {
        Common {
            in_place: self.in_place,
            decryption_order: self.decryption_order.clone(),
            ..Common::default()
        }
    }
}

pub(super) fn groups(cmd: GroupsCommand) -> Result<ExitCode> {
    match cmd {
        GroupsCommand::Add {
            flags,
            age,
            pgp,
            kms,
            hc_vault_transit,
            aws_profile,
            encryption_context,
        } => {
            let c = Common {
                aws_profile,
                encryption_context,
                ..flags.common()
            };
            let context = super::encryption_context(&c)?;
            let mut group: Vec<Recipient> = age
                .iter()
                .flat_map(|a| ksec_text::split_list(a))
                .map(Recipient::age)
                .collect();
            group.extend(pgp.iter().map(|p| Recipient::pgp(p)));
            group.extend(
                kms.iter()
                    .map(|k| Recipient::kms(k, &context, c.aws_profile.as_deref())),
            );
            for uri in &hc_vault_transit {
                group.push(Recipient::hc_vault(uri)?);
            }
            if group.is_empty() {
                bail!("the new group has no keys: pass --age, --pgp, --kms or --hc-vault-transit");
            }
            change_groups(&c, &flags, |mut groups| {
                groups.push(group);
                Ok((groups, false))
            })
        }
        GroupsCommand::Delete { flags, index } => {
            let c = flags.common();
            change_groups(&c, &flags, |mut groups| {
                if index >= groups.len() {
                    bail!(
                        "the file has {} key group(s); there is no group {index}",
                        groups.len()
                    );
                }
                groups.remove(index);
                Ok((groups, true))
            })
        }
    }
}

/// Opens the file, changes its recipient groups with `f` (which says whether
/// keys were removed) and writes it back, re-keyed after a removal.
fn change_groups(
    c: &Common,
    flags: &GroupFlags,
    f: impl FnOnce(Vec<Vec<Recipient>>) -> Result<(Vec<Vec<Recipient>>, bool)>,
) -> Result<ExitCode> {
    let file = flags.file.as_path();
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let keys = keyring(c);
    let locked = LockedFile::parse(&input, inf).with_context(|| shown(Some(file)))?;
    let before = locked.metadata().recipients()?;
    let old_threshold = locked.metadata().shamir_threshold;
    let (groups, removal) = f(before.clone())?;
    let threshold = flags.shamir.or(old_threshold);
    if let Some(t) = threshold {
        // As sops: a threshold above the number of groups is refused (pass a
        // lower --shamir-secret-sharing-threshold with the change).
        if t as usize > groups.len() {
            bail!(
                "the Shamir threshold would be {t} with only {} key group(s): no one could decrypt the file (pass --shamir-secret-sharing-threshold)",
                groups.len()
            );
        }
    }
    let threshold = threshold.filter(|_| groups.len() > 1);
    let mut open = locked
        .open(&keys, MacCheck::Verify)
        .with_context(|| shown(Some(file)))?;
    let out = if removal {
        let removed: Vec<String> = before
            .iter()
            .flatten()
            .filter(|r| !groups.iter().flatten().any(|g| g == *r))
            .map(Recipient::describe)
            .collect();
        let out = open.rekey(groups, threshold, &keys, &emit_options(c))?;
        write_out(c, Some(file), &out)?;
        if !removed.is_empty() {
            say_rekeyed(file, &removed);
        }
        return Ok(ExitCode::SUCCESS);
    } else {
        open.set_recipients(&groups, threshold, &keys)?;
        open.seal(&emit_options(c))?
    };
    write_out(c, Some(file), &out)?;
    Ok(ExitCode::SUCCESS)
}
