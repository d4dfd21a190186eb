//! `ksec encryption-config generate|check`: kube-apiserver's EncryptionConfiguration.
use crate::io;
use anyhow::{Context, Result};
use base64::Engine;
use clap::{Args, Subcommand, ValueEnum};
use ksec_kms::encryption_config::{self as ec, GenerateProvider};
use std::path::PathBuf;
use std::process::ExitCode;

/// `ksec encryption-config …`
#[derive(Subcommand, Debug)]
pub enum EncryptionConfigCommand {
    /// Write an EncryptionConfiguration for a provider (fresh keys where needed).
    Generate(GenerateArgs),
    /// Validate an EncryptionConfiguration as kube-apiserver would, and explain problems.
    Check(CheckArgs),
}

/// Provider kinds to generate.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Provider {
    /// KMS v2 through a plugin such as `ksec kms serve` (recommended).
    Kms,
    /// AES-GCM with a fresh local key.
    Aesgcm,
    /// AES-CBC with a fresh local key (not recommended).
    Aescbc,
    /// secretbox (XSalsa20-Poly1305) with a fresh local key.
    Secretbox,
}

/// Arguments of `ksec encryption-config generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The provider that encrypts new writes (`identity` is kept last so existing data reads).
    #[arg(long, value_enum, default_value = "kms")]
    pub provider: Provider,
    /// Resources to encrypt, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "secrets")]
    pub resources: Vec<String>,
    /// kms: provider name (part of every stored value's prefix; keep it stable).
    #[arg(long, default_value = "ksec")]
    pub name: String,
    /// kms: the plugin's socket.
    #[arg(long, default_value = "unix:///var/run/kmsplugin/kms.sock")]
    pub endpoint: String,
    /// kms: how long kube-apiserver waits for the plugin.
    #[arg(long, default_value = "3s")]
    pub timeout: String,
    /// Write here (mode 0600: it may hold keys) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Arguments of `ksec encryption-config check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The EncryptionConfiguration file.
    pub file: PathBuf,
}

/// Runs a `ksec encryption-config` command.
pub fn run(cmd: EncryptionConfigCommand) -> Result<ExitCode> {
    match cmd {
        EncryptionConfigCommand::Generate(a) => {
            let provider = match a.provider {
                Provider::Kms => GenerateProvider::KmsV2,
                Provider::Aesgcm => GenerateProvider::Aesgcm,
                Provider::Aescbc => GenerateProvider::Aescbc,
                Provider::Secretbox => GenerateProvider::Secretbox,
            };
            let key = || {
                let k = ksec_crypto::rand::secret(32).expect("system random number generator");
                base64::engine::general_purpose::STANDARD.encode(k.expose())
            };
            let c = ec::generate(
                provider,
                &a.resources,
                &a.name,
                &a.endpoint,
                &a.timeout,
                key,
            );
            let rep = ec::check(&c);
            if let Some(e) = rep.errors.first() {
                anyhow::bail!(
                    "the settings give an invalid configuration: {}: {}",
                    e.field,
                    e.message
                );
            }
            io::emit(a.output.as_deref(), ec::to_yaml(&c).as_bytes(), 0o600)?;
            Ok(ExitCode::SUCCESS)
        }
        EncryptionConfigCommand::Check(a) => {
            let text = std::fs::read_to_string(&a.file)
                .with_context(|| format!("cannot read {}", a.file.display()))?;
            let c = ec::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
            let rep = ec::check(&c);
            for w in &rep.warnings {
                eprintln!("{}: warning: {}: {}", a.file.display(), w.field, w.message);
            }
            for e in &rep.errors {
                eprintln!("{}: error: {}: {}", a.file.display(), e.field, e.message);
            }
            if rep.errors.is_empty() {
                println!(
                    "{}: valid ({} warning(s))",
                    a.file.display(),
                    rep.warnings.len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "{}: kube-apiserver would refuse this configuration ({} error(s))",
                    a.file.display(),
                    rep.errors.len()
                );
                Ok(ExitCode::from(1))
            }
        }
    }
}
