//! The `ksec` command line. It parses arguments and wires the library crates together;
//! everything else lives in those crates.
//!
//! Invoked as `kubeseal` (a symlink or a copy), ksec behaves as kubeseal.
#![forbid(unsafe_code)]
// A binary has no outside callers: `pub` inside it is the module boundary between
// commands, never an API, so the workspace's library lint does not apply here.
#![allow(unreachable_pub)]

mod cluster;
mod commands;
mod io;
mod keyfiles;
mod kube_args;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// ksec protects Kubernetes Secrets end to end: sealed for git (Sealed Secrets compatible),
/// encrypted files (SOPS compatible), and encrypted at rest in etcd.
#[derive(Parser, Debug)]
#[command(name = "ksec", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Seal a Secret into a SealedSecret (kubeseal's flags; also runs as `kubeseal`).
    Seal(Box<commands::seal::SealArgs>),
    /// Unseal SealedSecrets with backup keys, reporting which key opened each value.
    Unseal(commands::unseal::UnsealArgs),
    /// Re-encrypt SealedSecrets from old keys to a new certificate, offline, for whole directories.
    Reseal(commands::reseal::ResealArgs),
    /// Sealing keys: generate, print certificates, list.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// Encryption at rest: the KMS v2 plugin for kube-apiserver.
    #[command(subcommand)]
    Kms(commands::kms::KmsCommand),
    /// kube-apiserver EncryptionConfiguration: generate one, or check one as the apiserver would.
    #[command(subcommand, name = "encryption-config")]
    EncryptionConfig(commands::encryption_config::EncryptionConfigCommand),
    /// etcd at rest: audit how every stored object is protected, or decrypt them back.
    #[command(subcommand)]
    Etcd(commands::etcd::EtcdCommand),
    /// Run the in-cluster SealedSecret controller (Bitnami's flags and SEALED_SECRETS_* variables).
    #[cfg(feature = "controller")]
    Controller(Box<commands::controller::ControllerArgs>),
    /// SOPS-compatible encrypted files (sops's commands and flags; also runs as `sops`).
    Sops(Box<commands::sops::SopsArgs>),
    /// Helm values: helm-secrets-compatible plugins for Helm 3 and 4 (also runs as `helm`).
    #[command(subcommand)]
    Helm(commands::helm::HelmCommand),
    /// Find what exposes Secrets in manifests, charts, Kustomize directories and git history.
    Scan(Box<commands::scan::ScanArgs>),
    /// Run the end-to-end demo on built-in sample data (offline).
    Demo,
    /// Print a shell completion script.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write man pages (ksec.1, ksec-seal.1, …) into a folder, or print ksec.1.
    Man {
        /// Folder to write the pages into.
        #[arg(long = "out-dir", value_name = "DIR")]
        out_dir: Option<std::path::PathBuf>,
    },
}

/// `kubeseal`: the seal command's flags at the top level, plus `--version`.
#[derive(Parser, Debug)]
#[command(
    name = "kubeseal",
    about = "kubeseal, as implemented by ksec",
    disable_version_flag = true
)]
struct KubesealCli {
    #[command(flatten)]
    seal: commands::seal::SealArgs,
    /// Print version information and exit.
    #[arg(long)]
    version: bool,
}

/// `sops`: ksec's sops commands at the top level.
#[derive(Parser, Debug)]
#[command(
    name = "sops",
    about = "sops, as implemented by ksec",
    version = concat!("3.11.0 (ksec ", env!("CARGO_PKG_VERSION"), ")")
)]
struct SopsCli {
    #[command(flatten)]
    args: commands::sops::SopsArgs,
}

fn invoked_as() -> String {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

fn init_logging() {
    // kube-rs logs a failed connection at ERROR before returning the error, which ksec
    // then explains (server, kubeconfig, what to do): one message, not two. KSEC_LOG
    // brings its logs back (e.g. KSEC_LOG=debug).
    let filter = tracing_subscriber::EnvFilter::try_from_env("KSEC_LOG")
        .unwrap_or_else(|_| "warn,kube_client=off".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    // `ksec controller` sets up its own logging from its flags.
    if std::env::args().nth(1).as_deref() != Some("controller") {
        init_logging();
    }
    let result = match invoked_as().as_str() {
        "kubeseal" => {
            let cli = KubesealCli::parse();
            if cli.version {
                println!("kubeseal version: ksec-{}", env!("CARGO_PKG_VERSION"));
                Ok(ExitCode::SUCCESS)
            } else {
                commands::seal::run(cli.seal)
            }
        }
        "sops" => commands::sops::run(SopsCli::parse().args),
        "helm" => commands::helm::run_as_helm(),
        _ => run(Cli::parse()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, as `{:#}` prints them, except that a cause
/// whose text is already shown is left out (see [`ksec_text::error_chain`]).
fn one_line(e: &anyhow::Error) -> String {
    ksec_text::error_chain(e.as_ref())
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Seal(a) => commands::seal::run(*a),
        Command::Unseal(a) => commands::unseal::run(a),
        Command::Reseal(a) => commands::reseal::run(a),
        Command::Keys(k) => commands::keys::run(k),
        Command::Kms(k) => commands::kms::run(k),
        Command::EncryptionConfig(c) => commands::encryption_config::run(c),
        Command::Etcd(c) => commands::etcd::run(c),
        #[cfg(feature = "controller")]
        Command::Controller(a) => commands::controller::run(*a),
        Command::Sops(a) => commands::sops::run(*a),
        Command::Helm(c) => commands::helm::run(c),
        Command::Scan(a) => commands::scan::run(*a),
        Command::Demo => commands::demo::run(),
        Command::Completion { shell } => commands::completion::completion(shell),
        Command::Man { out_dir } => commands::completion::man(out_dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn an_error_line_shows_each_cause_once() {
        // An error that prints its source in its own message, as kube-rs's do.
        #[derive(Debug)]
        struct Repeats(std::io::Error);
        impl std::fmt::Display for Repeats {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "client error (Connect): {}", self.0)
            }
        }
        impl std::error::Error for Repeats {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = anyhow::Error::new(Repeats(io)).context("cannot reach the API server");
        assert_eq!(
            one_line(&e),
            "cannot reach the API server: client error (Connect): refused"
        );
        assert_eq!(
            format!("{e:#}"),
            "cannot reach the API server: client error (Connect): refused: refused"
        );
    }

    #[test]
    fn cli_definitions_are_consistent() {
        Cli::command().debug_assert();
        KubesealCli::command().debug_assert();
        SopsCli::command().debug_assert();
    }
}
