//! `rotate` (a new data key) and `updatekeys` (the same data key for the
//! recipients `.sops.yaml` names now).
use super::{exit, formats, keyring, load_config, write_out, Common};
use crate::io;
use anyhow::{bail, Context, Result};
use ksec_sops::file;
use ksec_sops::keys::Recipient;
use ksec_sops::stores::{self, EmitOptions};
use std::path::Path;
use std::process::ExitCode;

fn split_list(v: &Option<String>) -> Vec<String> {
    v.iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) fn rotate(c: &Common, file: &Path, changes: [Option<String>; 4]) -> Result<ExitCode> {
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let kr = keyring(c);
    let [add_age, rm_age, add_pgp, rm_pgp] = changes;
    let groups = if [&add_age, &rm_age, &add_pgp, &rm_pgp]
        .iter()
        .any(|x| x.is_some())
    {
        let (_, meta) = stores::load_encrypted(inf, &input)?;
        let mut groups = file::recipients_of(&ksec_sops::metadata::Metadata::from_value(&meta)?)?;
        let rm: Vec<Recipient> = split_list(&rm_age)
            .iter()
            .map(|a| Recipient::age(a))
            .chain(split_list(&rm_pgp).iter().map(|p| Recipient::pgp(p)))
            .collect();
        for g in &mut groups {
            g.retain(|r| !rm.contains(r));
        }
        if groups.is_empty() {
            groups.push(Vec::new());
        }
        groups[0].extend(split_list(&add_age).iter().map(|a| Recipient::age(a)));
        groups[0].extend(split_list(&add_pgp).iter().map(|p| Recipient::pgp(p)));
        Some(groups)
    } else {
        None
    };
    let out = file::rotate(inf, &input, &kr, groups, EmitOptions { indent: c.indent })?;
    write_out(c, Some(file), &out)?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn updatekeys(c: &Common, file: &Path, yes: bool) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let cfg = load_config(c, Some(file))?
        .context("updatekeys needs a .sops.yaml (none found; use --config)")?;
    let rule = cfg
        .rule_for(c.filename_override.as_deref().unwrap_or(file))
        .with_context(|| {
            format!(
                "no creation rule in {} matches {}",
                cfg.path.display(),
                file.display()
            )
        })?;
    let (_, meta) = stores::load_encrypted(inf, &input)?;
    let old = ksec_sops::metadata::Metadata::from_value(&meta)?;
    let old_ids: Vec<String> = old
        .key_groups
        .iter()
        .flatten()
        .map(|k| k.describe())
        .collect();
    let new_ids: Vec<String> = rule
        .groups
        .iter()
        .flatten()
        .map(|r| match r.kind.as_str() {
            "age" => format!("age recipient {}", r.id),
            "pgp" => format!("pgp key {}", r.id),
            k => format!("{k} key {}", r.id),
        })
        .collect();
    if old_ids == new_ids && old.key_groups.len() == rule.groups.len() {
        eprintln!("{}: already up to date", file.display());
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("The following changes will be made to the file's groups:");
    for id in new_ids.iter().filter(|i| !old_ids.contains(i)) {
        eprintln!("+++ {id}");
    }
    for id in old_ids.iter().filter(|i| !new_ids.contains(i)) {
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
    let out = file::update_keys(
        inf,
        &input,
        &keyring(c),
        &rule.groups,
        rule.shamir_threshold,
        EmitOptions { indent: c.indent },
    )?;
    io::write_atomic(file, &out, 0o600)?;
    Ok(ExitCode::SUCCESS)
}
