//! Shell completions and man pages, generated from the same clap definitions.
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::PathBuf;
use std::process::ExitCode;

/// Prints the completion script for `shell`.
pub fn completion(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut cmd = crate::Cli::command();
    clap_complete::generate(shell, &mut cmd, "ksec", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Writes `ksec.1` and one page per subcommand (`ksec-seal.1`, …) into `dir`, or
/// prints `ksec.1` when no folder is given.
pub fn man(dir: Option<PathBuf>) -> Result<ExitCode> {
    let cmd = crate::Cli::command();
    let Some(dir) = dir else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut pages = vec![(String::from("ksec"), cmd.clone())];
    for sub in cmd.get_subcommands() {
        pages.push((
            format!("ksec-{}", sub.get_name()),
            sub.clone().name(format!("ksec-{}", sub.get_name())),
        ));
        for sub2 in sub.get_subcommands() {
            let n = format!("ksec-{}-{}", sub.get_name(), sub2.get_name());
            pages.push((n.clone(), sub2.clone().name(n)));
        }
    }
    for (name, c) in pages {
        let mut buf = vec![];
        clap_mangen::Man::new(c).render(&mut buf)?;
        let path = dir.join(format!("{name}.1"));
        crate::io::write_atomic(&path, &buf, 0o644)?;
    }
    Ok(ExitCode::SUCCESS)
}
