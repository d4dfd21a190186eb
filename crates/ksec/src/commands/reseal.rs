//! `ksec reseal`: re-encrypt SealedSecrets from old keys to a new certificate, offline,
//! for files and whole directories (kubeseal --re-encrypt needs the live controller).
use super::seal::{load_keys, sealer_for};
use crate::io;
use anyhow::{bail, Result};
use clap::Args;
use ksec_crypto::rsa::RsaPrivateKey;
use ksec_seal::{FileReseal, WriteResult};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

/// Arguments of `ksec reseal`.
#[derive(Args, Debug)]
pub struct ResealArgs {
    /// Keys that can open the current values (PEM, key Secrets, Lists).
    #[arg(
        short = 'k',
        long = "key",
        value_delimiter = ',',
        required = true,
        value_name = "FILE"
    )]
    pub keys: Vec<PathBuf>,
    /// The new certificate (file or URL) to seal for.
    #[arg(long, value_name = "FILE|URL")]
    pub cert: String,
    /// SealedSecret files or directories (searched recursively for .yaml, .yml, .json).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Show what would change without writing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `ksec reseal`.
pub fn run(args: ResealArgs) -> Result<ExitCode> {
    let old = load_keys(&args.keys)?;
    let refs: Vec<&RsaPrivateKey> = old.iter().map(|k| &k.key).collect();
    let sealer = sealer_for(&args.cert, SystemTime::now())?;
    let files = ksec_seal::manifest_files(&args.paths)?;
    let dry_run = args.dry_run;
    let write = |f: &Path, text: &str| -> WriteResult {
        if dry_run {
            return Ok(());
        }
        io::write_atomic(f, text.as_bytes(), 0o644).map_err(Into::into)
    };
    let summary =
        ksec_seal::reseal_files(&files, &refs, sealer.public_key(), write, |f, outcome| {
            match outcome {
                FileReseal::Resealed { values } => eprintln!(
                    "{}: {values} value(s) resealed{}",
                    f.display(),
                    if dry_run { " (dry run)" } else { "" }
                ),
                FileReseal::Failed(e) => eprintln!("error: {:#}", anyhow::Error::from(e.clone())),
                _ => {}
            }
        });
    eprintln!(
        "{} file(s) resealed, {} without SealedSecrets skipped, {} failed",
        summary.resealed, summary.skipped, summary.failed
    );
    if summary.failed > 0 {
        bail!(
            "{} file(s) could not be resealed; they were left unchanged",
            summary.failed
        );
    }
    Ok(ExitCode::SUCCESS)
}
