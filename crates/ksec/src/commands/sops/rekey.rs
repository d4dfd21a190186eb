//! `rotate` (a new data key) and `updatekeys` (the same data key for the
//! recipients `.sops.yaml` names now).
use super::{emit_options, exit, formats, keyring, load_config, shown, write_out, Common};
use crate::io;
use anyhow::{bail, Context, Result};
use ksec_sops::{KeyChanges, LockedFile, MacCheck, Recipient, RecipientChanges};
use std::path::Path;
use std::process::ExitCode;

fn list(v: &Option<String>) -> impl Iterator<Item = &str> {
    v.iter().flat_map(|s| ksec_text::split_list(s))
}

pub(super) fn rotate(c: &Common, file: &Path, changes: [Option<String>; 4]) -> Result<ExitCode> {
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let keys = keyring(c);
    let [add_age, rm_age, add_pgp, rm_pgp] = changes;
    let changes = RecipientChanges {
        add: list(&add_age)
            .map(Recipient::age)
            .chain(list(&add_pgp).map(Recipient::pgp))
            .collect(),
        remove: list(&rm_age)
            .map(Recipient::age)
            .chain(list(&rm_pgp).map(Recipient::pgp))
            .collect(),
    };
    let any_flag = [&add_age, &rm_age, &add_pgp, &rm_pgp]
        .iter()
        .any(|x| x.is_some());
    let out = (|| {
        let locked = LockedFile::parse(&input, inf)?;
        // With changes, the new recipients are worked out before decrypting.
        let groups = if any_flag {
            Some(changes.apply(locked.metadata().recipients()?))
        } else {
            None
        };
        locked
            .open(&keys, MacCheck::Verify)?
            .rotate(groups, &keys, &emit_options(c))
    })()
    .with_context(|| shown(Some(file)))?;
    write_out(c, Some(file), &out)?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn updatekeys(c: &Common, file: &Path, yes: bool) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
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
    let locked = LockedFile::parse(&input, inf).with_context(|| shown(Some(file)))?;
    let changes = KeyChanges::between(locked.key_groups(), &rule.groups);
    if changes.up_to_date {
        eprintln!("{}: already up to date", file.display());
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("The following changes will be made to the file's groups:");
    for id in &changes.added {
        eprintln!("+++ {id}");
    }
    for id in &changes.removed {
        eprintln!("--- {id}");
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
    let out = (|| {
        let mut open = locked.open(&keys, MacCheck::Verify)?;
        open.set_recipients(&rule.groups, rule.shamir_threshold, &keys)?;
        open.seal(&emit_options(c))
    })()
    .with_context(|| shown(Some(file)))?;
    io::write_atomic(file, &out, 0o600)?;
    Ok(ExitCode::SUCCESS)
}
