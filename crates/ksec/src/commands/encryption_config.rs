//! `ksec encryption-config`: write a correct EncryptionConfiguration, or check one as
//! kube-apiserver would before it refuses to start.
use crate::io;
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use ksec_etcd::encryption_config::{self as ec, CheckOptions, FindingKind, GenerateSpec, Severity};
use std::path::PathBuf;
use std::process::ExitCode;

/// `ksec encryption-config …`
#[derive(Subcommand, Debug)]
pub enum EncryptionConfigCommand {
    /// Write an EncryptionConfiguration with fresh keys where the provider needs them.
    Generate(GenerateArgs),
    /// Validate a file as kube-apiserver does (rules and messages), plus warnings; exit 1 on errors.
    Check(CheckArgs),
}

/// Arguments of `generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Provider: kms (v2, for `ksec kms serve`), secretbox, aesgcm, aescbc, identity.
    #[arg(long, default_value = "kms")]
    pub provider: String,
    /// Resources to encrypt (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', default_value = "secrets")]
    pub resources: Vec<String>,
    /// KMS provider name.
    #[arg(long = "kms-name", default_value = "ksec")]
    pub kms_name: String,
    /// KMS plugin socket.
    #[arg(long = "kms-endpoint", default_value = "unix:///var/run/ksec/kms.sock")]
    pub kms_endpoint: String,
    /// KMS call timeout.
    #[arg(long = "kms-timeout", default_value = "3s")]
    pub kms_timeout: String,
    /// Do not add `identity: {}` last (data written before encryption becomes unreadable).
    #[arg(long = "no-identity-fallback")]
    pub no_identity_fallback: bool,
    /// Output file (mode 0600: it may hold keys); standard output when absent.
    #[arg(short = 'w', long = "output")]
    pub output: Option<PathBuf>,
}

/// Arguments of `check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The EncryptionConfiguration file.
    pub file: PathBuf,
    /// The apiserver runs with --feature-gates=KMSv1=true.
    #[arg(long = "kms-v1")]
    pub kms_v1: bool,
    /// The apiserver reloads the file (--encryption-provider-config-automatic-reload).
    #[arg(long)]
    pub reload: bool,
}

/// Runs `ksec encryption-config …`.
pub fn run(cmd: EncryptionConfigCommand) -> Result<ExitCode> {
    match cmd {
        EncryptionConfigCommand::Generate(a) => {
            let text = ec::generate(&GenerateSpec {
                provider: a.provider,
                resources: a.resources,
                kms_name: a.kms_name,
                kms_endpoint: a.kms_endpoint,
                kms_timeout: a.kms_timeout,
                identity_fallback: !a.no_identity_fallback,
            })?;
            io::emit(a.output.as_deref(), text.as_bytes(), 0o600)?;
            Ok(ExitCode::SUCCESS)
        }
        EncryptionConfigCommand::Check(a) => {
            let name = a.file.display().to_string();
            let findings = ec::check(
                &io::read_file(&a.file)?,
                CheckOptions {
                    kms_v1_enabled: a.kms_v1,
                    reload: a.reload,
                },
            );
            for f in &findings {
                if f.path.is_empty() {
                    eprintln!("{name}: {}", f.message);
                } else {
                    eprintln!("{name}: {f}");
                }
                if f.kind == FindingKind::KmsV1Disabled {
                    eprintln!(
                        "  hint: if the apiserver runs with that feature gate, check with --kms-v1"
                    );
                }
            }
            let errors = findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count();
            if errors > 0 {
                bail!("{name}: {errors} error(s): kube-apiserver would refuse to start with this file");
            }
            println!("{name}: valid ({} warning(s))", findings.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}
