//! `ksec reseal`: re-encrypt SealedSecrets from old keys to a new certificate, offline,
//! for files and whole directories (kubeseal --re-encrypt needs the live controller).
use super::seal::{load_keys, sealer_for};
use crate::io;
use anyhow::{bail, Result};
use clap::Args;
use ksec_crypto::rsa::{RsaPrivateKey, RsaPublicKey};
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
    let public = sealer.public_key();
    let files = ksec_seal::manifest_files(&args.paths)?;
    let (mut changed, mut skipped, mut failed) = (0, 0, 0);
    for f in &files {
        match reseal_file(f, &refs, public, args.dry_run) {
            Ok(Some(n)) => {
                changed += 1;
                eprintln!(
                    "{}: {n} value(s) resealed{}",
                    f.display(),
                    if args.dry_run { " (dry run)" } else { "" }
                );
            }
            Ok(None) => skipped += 1,
            Err(e) => {
                failed += 1;
                eprintln!("error: {e:#}");
            }
        }
    }
    eprintln!(
        "{changed} file(s) resealed, {skipped} without SealedSecrets skipped, {failed} failed"
    );
    if failed > 0 {
        bail!("{failed} file(s) could not be resealed; they were left unchanged");
    }
    Ok(ExitCode::SUCCESS)
}

/// Reseals one file in place ([`ksec_seal::reseal_manifest`]). `None` when it holds no
/// SealedSecret.
fn reseal_file(
    f: &Path,
    keys: &[&RsaPrivateKey],
    public: &RsaPublicKey,
    dry_run: bool,
) -> Result<Option<usize>> {
    let bytes = io::read_file(f)?;
    let Some(resealed) =
        ksec_seal::reseal_manifest(&bytes, &f.display().to_string(), keys, public)?
    else {
        return Ok(None);
    };
    if !dry_run {
        io::write_atomic(f, resealed.text.as_bytes(), 0o644)?;
    }
    Ok(Some(resealed.values))
}
