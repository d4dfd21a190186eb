//! `ksec unseal`: SealedSecrets in, Secrets out, with backup keys; says which key opened
//! each value.
use super::seal::load_keys;
use crate::io::{self, Input};
use anyhow::{bail, Context, Result};
use clap::Args;
use ksec_crypto::rsa::RsaPrivateKey;
use ksec_seal::render::{self, Format};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `ksec unseal`.
#[derive(Args, Debug)]
pub struct UnsealArgs {
    /// Private key files: PEM, key Secrets, or `kubectl get secret -o yaml` Lists of them.
    #[arg(
        short = 'k',
        long = "key",
        alias = "recovery-private-key",
        value_delimiter = ',',
        required = true,
        value_name = "FILE"
    )]
    pub keys: Vec<PathBuf>,
    /// SealedSecret file(s) (several documents allowed); standard input when absent.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format: json or yaml (yaml when the output file ends in .yaml/.yml).
    #[arg(short = 'o', long, default_value = "yaml")]
    pub format: String,
    /// Output file (mode 0600, written atomically); standard output when absent.
    #[arg(short = 'w', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Do not report which key opened each value.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `ksec unseal`.
pub fn run(args: UnsealArgs) -> Result<ExitCode> {
    let keys = load_keys(&args.keys)?;
    if keys.is_empty() {
        bail!("no private keys found in {:?}", args.keys);
    }
    let refs: Vec<&RsaPrivateKey> = keys.iter().map(|k| &k.key).collect();
    let inputs: Vec<Input> = if args.files.is_empty() {
        vec![Input::Stdin]
    } else {
        args.files
            .iter()
            .map(|f| Input::from_arg(Some(f)))
            .collect()
    };
    let mut format: Format = args.format.parse()?;
    if let Some(ext) = args
        .output
        .as_ref()
        .and_then(|p| p.extension())
        .and_then(|e| e.to_str())
    {
        format = match ext {
            "yaml" | "yml" => Format::Yaml,
            "json" => Format::Json,
            _ => format,
        };
    }
    let mut out = zeroize::Zeroizing::new(String::new());
    let mut failures = 0;
    for input in &inputs {
        let data = input.read("(tty detected: expecting a SealedSecret in stdin)")?;
        for ss in ksec_seal::read_sealed_secrets(&data, &input.name())? {
            let what = format!("{}/{}", ss.metadata.namespace(), ss.metadata.name());
            match ksec_seal::unseal(&ss, &refs) {
                Ok(opened) => {
                    if !args.quiet {
                        for (k, idx) in &opened.opened_by {
                            let key = &keys[*idx];
                            eprintln!(
                                "{what}: {k} opened by {} ({})",
                                key.source,
                                key.public_key().ssh_fingerprint()
                            );
                        }
                    }
                    out.push_str(&render::document(&opened.secret.to_value(), format));
                }
                Err(e) => {
                    failures += 1;
                    eprintln!("error: {}: SealedSecret {what}: {e}", input.name());
                }
            }
        }
    }
    if failures > 0 {
        bail!("{failures} SealedSecret(s) could not be unsealed with the {} key(s) given; nothing was written", keys.len());
    }
    io::emit(args.output.as_deref(), out.as_bytes(), 0o600)
        .context("writing the unsealed Secrets")?;
    Ok(ExitCode::SUCCESS)
}
