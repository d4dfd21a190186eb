//! `rotate` (a new data key), `updatekeys` (the recipients `.sops.yaml` names
//! now) and `groups add|delete`: the flags, the confirmation and the messages.
//! What changes is planned by the library ([`Rotation`], [`KeyUpdate`],
//! [`GroupsUpdate`]): removing a key makes a new data key and encrypts every
//! value again, and this module says so; adding keys keeps the data key and
//! the values' ciphertexts (a quiet re-encryption, as sops does).
use super::{
    emit_options, encryption_context, exit, formats, keyring, list, load_config, shown, write_out,
    Common,
};
use crate::io;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use ksec_sops::{
    EncryptionOverrides, Error, GroupChange, GroupsUpdate, KeyUpdate, LockedFile, MacCheck,
    Recipient, RecipientChanges, Rotation, Updated,
};
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
    Ok(EncryptionOverrides {
        encryption_context: encryption_context(c)?,
        age: list(age),
        pgp: list(pgp),
        kms: list(kms),
        aws_profile: c.aws_profile.clone(),
        hc_vault_transit: list(vault),
        ..EncryptionOverrides::default()
    }
    .recipients()?)
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
    let out = (|| -> Result<Vec<u8>, Error> {
        let locked = LockedFile::parse(&input, inf)?;
        // With changes, the new recipients are worked out before decrypting.
        let rotation = Rotation::plan(&locked, &changes)?;
        removed = rotation.removed().to_vec();
        rotation.apply(
            locked.open(&keys, MacCheck::Verify)?,
            &keys,
            &emit_options(c),
        )
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

/// The keys `.sops.yaml` names now for `file`, and how they differ from its own.
pub(super) fn rule_changes(c: &Common, file: &Path, locked: &LockedFile) -> Result<KeyUpdate> {
    let cfg =
        load_config(c)?.context("updatekeys needs a .sops.yaml (none found; use --config)")?;
    KeyUpdate::plan(&cfg, c.filename_override.as_deref().unwrap_or(file), locked).map_err(|e| {
        match e {
            // Named by the file itself, and without the hint `run` gives this
            // error when encrypting (no recipient flags are involved here).
            Error::NoCreationRule { config, .. } => anyhow!(
                "no creation rule in {} matches {}",
                config.display(),
                file.display()
            ),
            e => e.into(),
        }
    })
}

fn updatekeys_one(c: &Common, file: &Path, yes: bool) -> Result<ExitCode> {
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let locked = LockedFile::parse(&input, inf).with_context(|| shown(Some(file)))?;
    let update = rule_changes(c, file, &locked)?;
    let changes = update.changes();
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
    if !yes && !confirm("Is this okay?", "pass -y to apply the changes")? {
        return Ok(ExitCode::from(exit::ERROR));
    }
    apply_update(c, file, locked, update, &keyring(c))?;
    Ok(ExitCode::SUCCESS)
}

/// Asks a yes/no question on the terminal: true for `y`. Without a terminal it is an
/// error that says what to pass instead.
pub(super) fn confirm(question: &str, without_a_terminal: &str) -> Result<bool> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        bail!("not a terminal: {without_a_terminal}");
    }
    eprint!("{question} (y/n): ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let yes = line.trim().eq_ignore_ascii_case("y");
    if !yes {
        eprintln!("changes not applied");
    }
    Ok(yes)
}

/// Applies `update` to one file, writes it, and says when the data key was replaced.
pub(super) fn apply_update(
    c: &Common,
    file: &Path,
    locked: LockedFile,
    update: KeyUpdate,
    keys: &ksec_sops::Keyring,
) -> Result<()> {
    let (out, what) = update
        .apply(locked, keys, &emit_options(c))
        .with_context(|| shown(Some(file)))?;
    io::write_atomic(file, &out, 0o600)?;
    if let Updated::Rekeyed(removed) = what {
        say_rekeyed(file, &removed);
    }
    Ok(())
}

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
            let group = EncryptionOverrides {
                encryption_context: super::encryption_context(&c)?,
                age: age
                    .iter()
                    .flat_map(|a| ksec_text::split_list(a))
                    .map(str::to_string)
                    .collect(),
                pgp,
                kms,
                aws_profile: c.aws_profile.clone(),
                hc_vault_transit,
                ..EncryptionOverrides::default()
            }
            .recipients()?;
            if group.is_empty() {
                bail!("the new group has no keys: pass --age, --pgp, --kms or --hc-vault-transit");
            }
            change_groups(&c, &flags, GroupChange::Add(group))
        }
        GroupsCommand::Delete { flags, index } => {
            let c = flags.common();
            change_groups(&c, &flags, GroupChange::Delete(index))
        }
    }
}

/// Opens the file, changes its key groups and writes it back, re-keyed after
/// a removal.
fn change_groups(c: &Common, flags: &GroupFlags, change: GroupChange) -> Result<ExitCode> {
    let file = flags.file.as_path();
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let keys = keyring(c);
    let locked = LockedFile::parse(&input, inf).with_context(|| shown(Some(file)))?;
    // A threshold above the number of groups is refused, as sops does (`run`
    // adds the hint to pass a lower --shamir-secret-sharing-threshold).
    let update = GroupsUpdate::plan(&locked, change, flags.shamir)?;
    let open = locked
        .open(&keys, MacCheck::Verify)
        .with_context(|| shown(Some(file)))?;
    let removed = update.removed().to_vec();
    let out = update.apply(open, &keys, &emit_options(c))?;
    write_out(c, Some(file), &out)?;
    if !removed.is_empty() {
        say_rekeyed(file, &removed);
    }
    Ok(ExitCode::SUCCESS)
}
