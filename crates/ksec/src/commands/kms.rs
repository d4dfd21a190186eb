//! `ksec kms serve`: the KMS v2 (and v1beta1) plugin for kube-apiserver. The plugin,
//! its reloads and its drain live in `ksec_kms` (its `Daemon`); this module turns the
//! flags into a `ksec_kms::ConfigSource`, prints the plugin's events, and names the
//! flags that fix its errors.
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use ksec_keys::awskms::AwsKmsConfig;
use ksec_keys::local::LocalConfig;
use ksec_keys::pkcs11::Pkcs11Config;
use ksec_keys::vault::{VaultAuth, VaultConfig};
use ksec_keys::BackendConfig;
use ksec_kms::{ConfigSource, Daemon, Event, Overrides, PluginConfig, RunOptions};
use ksec_text::error_chain as chain;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `ksec kms …`
#[derive(Subcommand, Debug)]
pub enum KmsCommand {
    /// Serve the KMS v2 and v1beta1 gRPC APIs on a unix socket for kube-apiserver.
    Serve(Box<ServeArgs>),
    /// Put a fresh key on top of a local key file (created if missing, mode 0600). The
    /// new key wraps from now on; older keys still unwrap. A running plugin picks it up
    /// on SIGHUP or when it sees the file change.
    RotateKey {
        /// The local key file.
        #[arg(long = "key-file", value_name = "FILE")]
        key_file: PathBuf,
    },
}

/// The key backend kinds.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A local key file (first key wraps, all unwrap).
    Local,
    /// Vault / OpenBao Transit.
    Vault,
    /// A PKCS#11 HSM.
    Pkcs11,
    /// AWS KMS.
    AwsKms,
}

/// Arguments of `ksec kms serve`. Flags override the `--config` file.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The unix socket to serve on (created with mode 0600).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// YAML file with `socket`, `health_addr` and a `backend` block.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve /healthz, /readyz, /livez and /metrics on HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub health_addr: Option<String>,
    /// The key backend (replaces the config file's `backend` block).
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// The time kube-apiserver gives one call (its EncryptionConfiguration `timeout`;
    /// default 3s). Vault and AWS KMS get two tries within it, PKCS#11 one.
    #[arg(long, value_name = "DURATION", value_parser = call_timeout)]
    pub call_timeout: Option<Duration>,

    /// local: the key file (one base64 32-byte key per line; the first wraps).
    #[arg(long, value_name = "FILE", help_heading = "Local key file")]
    pub key_file: Option<PathBuf>,
    /// local: only warn when the key file is group/world accessible.
    #[arg(long, help_heading = "Local key file")]
    pub allow_insecure_key_file: bool,

    /// vault: address (default $VAULT_ADDR).
    #[arg(long, value_name = "URL", help_heading = "Vault / OpenBao Transit")]
    pub vault_addr: Option<String>,
    /// vault: Transit key name.
    #[arg(long, value_name = "NAME", help_heading = "Vault / OpenBao Transit")]
    pub vault_transit_key: Option<String>,
    /// vault: Transit mount path.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "transit",
        help_heading = "Vault / OpenBao Transit"
    )]
    pub vault_transit_mount: String,
    /// vault: file holding the token (default: $VAULT_TOKEN).
    #[arg(long, value_name = "FILE", help_heading = "Vault / OpenBao Transit")]
    pub vault_token_file: Option<PathBuf>,
    /// vault: AppRole role id (with --vault-secret-id-file).
    #[arg(long, value_name = "ID", help_heading = "Vault / OpenBao Transit")]
    pub vault_role_id: Option<String>,
    /// vault: file holding the AppRole secret id.
    #[arg(long, value_name = "FILE", help_heading = "Vault / OpenBao Transit")]
    pub vault_secret_id_file: Option<PathBuf>,
    /// vault: log in with the pod's service-account token under this Kubernetes auth role.
    #[arg(long, value_name = "ROLE", help_heading = "Vault / OpenBao Transit")]
    pub vault_k8s_role: Option<String>,
    /// vault: PEM bundle of CA certificates to trust.
    #[arg(long, value_name = "FILE", help_heading = "Vault / OpenBao Transit")]
    pub vault_ca_file: Option<PathBuf>,

    /// pkcs11: the vendor module (.so).
    #[arg(long, value_name = "PATH", help_heading = "PKCS#11")]
    pub pkcs11_module: Option<PathBuf>,
    /// pkcs11: token label.
    #[arg(long, value_name = "LABEL", help_heading = "PKCS#11")]
    pub pkcs11_token_label: Option<String>,
    /// pkcs11: label of the AES key.
    #[arg(long, value_name = "LABEL", help_heading = "PKCS#11")]
    pub pkcs11_key_label: Option<String>,
    /// pkcs11: file holding the user PIN (else the environment variable KSEC_PKCS11_PIN).
    #[arg(long, value_name = "FILE", help_heading = "PKCS#11")]
    pub pkcs11_pin_file: Option<PathBuf>,

    /// aws-kms: key ARN (an alias works but breaks decryption if repointed).
    #[arg(long, value_name = "ARN", help_heading = "AWS KMS")]
    pub aws_kms_key: Option<String>,
    /// aws-kms: region (default from the ARN or $AWS_REGION).
    #[arg(long, value_name = "REGION", help_heading = "AWS KMS")]
    pub aws_region: Option<String>,
}

fn call_timeout(s: &str) -> Result<Duration, String> {
    match ksec_text::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be more than 0".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

fn need<T: Clone>(v: &Option<T>, flag: &str, backend: &str) -> Result<T> {
    v.clone()
        .with_context(|| format!("--backend {backend} needs {flag}"))
}

/// The backend block the flags describe. Timeouts are left to the plugin, which
/// fits them into the per-call budget (`--call-timeout`).
fn backend_from_flags(a: &ServeArgs, kind: Backend) -> Result<BackendConfig> {
    Ok(match kind {
        Backend::Local => BackendConfig::Local(LocalConfig {
            key_file: need(&a.key_file, "--key-file", "local")?,
            allow_insecure_permissions: a.allow_insecure_key_file,
        }),
        Backend::Vault => {
            let auth = if let Some(role_id) = &a.vault_role_id {
                VaultAuth::approle(
                    role_id.clone(),
                    Some(need(
                        &a.vault_secret_id_file,
                        "--vault-secret-id-file",
                        "vault",
                    )?),
                )
            } else if let Some(role) = &a.vault_k8s_role {
                VaultAuth::kubernetes(role.clone())
            } else {
                VaultAuth::Token {
                    token_file: a.vault_token_file.clone(),
                    token_env: None,
                }
            };
            let key = need(&a.vault_transit_key, "--vault-transit-key", "vault")?;
            BackendConfig::Vault(VaultConfig {
                address: a.vault_addr.clone(),
                mount: a.vault_transit_mount.clone(),
                auth,
                ca_file: a.vault_ca_file.clone(),
                ..VaultConfig::new(String::new(), key)
            })
        }
        Backend::Pkcs11 => BackendConfig::Pkcs11(Pkcs11Config {
            pin_file: a.pkcs11_pin_file.clone(),
            ..Pkcs11Config::new(
                need(&a.pkcs11_module, "--pkcs11-module", "pkcs11")?,
                need(&a.pkcs11_token_label, "--pkcs11-token-label", "pkcs11")?,
                need(&a.pkcs11_key_label, "--pkcs11-key-label", "pkcs11")?,
            )
        }),
        Backend::AwsKms => BackendConfig::AwsKms(AwsKmsConfig {
            key: need(&a.aws_kms_key, "--aws-kms-key", "aws-kms")?,
            region: a.aws_region.clone(),
            ..AwsKmsConfig::default()
        }),
    })
}

/// Where the plugin's configuration comes from: the `--config` file with the flags
/// on top (read again on every reload), or the flags alone.
fn source(a: &ServeArgs) -> Result<ConfigSource> {
    let overrides = Overrides {
        socket: a.socket.clone(),
        health_addr: a.health_addr.clone(),
        call_timeout: a.call_timeout,
        backend: a.backend.map(|k| backend_from_flags(a, k)).transpose()?,
    };
    Ok(match &a.config {
        Some(path) => ConfigSource::File {
            path: path.clone(),
            overrides,
        },
        None => {
            let Some(backend) = overrides.backend.clone() else {
                bail!("choose a key backend with --backend (local, vault, pkcs11, aws-kms) or --config FILE")
            };
            let mut config = PluginConfig::new(backend);
            overrides.apply(&mut config);
            ConfigSource::Fixed(config)
        }
    })
}

/// The plugin's errors, with the flags that fix them.
fn hint(e: ksec_kms::Error) -> anyhow::Error {
    match e {
        ksec_kms::Error::NoSocket => anyhow!("--socket (or `socket:` in --config) is required"),
        ksec_kms::Error::HealthAddr { addr, source } => {
            anyhow::Error::new(source).context(format!("--health-addr {addr}: cannot listen"))
        }
        e => anyhow::Error::new(e),
    }
}

/// What the plugin reports, on stderr.
fn print(event: &Event) {
    match event {
        Event::Started {
            backend,
            health: Ok(h),
        } => eprintln!("ksec kms: backend {backend} ready, key id {}", h.key_id),
        // It serves anyway: Status reports the problem and the backend may recover.
        Event::Started {
            backend,
            health: Err(e),
        } => eprintln!("ksec kms: backend {backend} not healthy yet: {e}"),
        Event::Serving { socket } => eprintln!("ksec kms: serving on {}", socket.display()),
        Event::Reloaded { reason, key_id } => {
            eprintln!("ksec kms: reloaded ({reason}); key id {key_id}")
        }
        Event::ReloadFailed { reason, error } => eprintln!(
            "ksec kms: reload failed ({reason}), still serving the previous backend: {}",
            chain(error)
        ),
        Event::ShuttingDown => eprintln!("ksec kms: shutting down"),
        _ => {}
    }
}

async fn serve(a: ServeArgs) -> Result<ExitCode> {
    let source = source(&a)?;
    let shutdown = ksec_kms::shutdown_signal().map_err(hint)?;
    let daemon = Daemon::start(source, RunOptions::new().on_event(print))
        .await
        .map_err(hint)?;
    daemon.run(shutdown).await.map_err(hint)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a `ksec kms` command.
pub fn run(cmd: KmsCommand) -> Result<ExitCode> {
    match cmd {
        KmsCommand::Serve(a) => {
            let rt = ksec_kms::runtime().context("cannot start the async runtime")?;
            rt.block_on(serve(*a))
        }
        KmsCommand::RotateKey { key_file } => {
            let id = ksec_keys::local::rotate_key_file(&key_file)
                .with_context(|| format!("rotating {}", key_file.display()))?;
            println!("{id}");
            eprintln!(
                "{}: new key {id} on top; reload the plugin (SIGHUP) or let it notice the change, then rewrite the Secrets",
                key_file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use ksec_keys::RetryPolicy;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn resolved(flags: &[&str]) -> PluginConfig {
        let cli =
            Cli::try_parse_from(std::iter::once("serve").chain(flags.iter().copied())).unwrap();
        source(&cli.serve).unwrap().resolve().unwrap()
    }

    #[test]
    fn flags_and_config_give_the_plugin_the_same_budget() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kms.yaml");
        let file_flag = file.to_str().unwrap();
        let apiserver = RetryPolicy {
            timeout: Duration::from_secs(1),
            attempts: 2,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
        };
        let same = |flags: &[&str], yaml: &str| {
            std::fs::write(&file, yaml).unwrap();
            let by_flags = resolved(flags).backend_config();
            let by_file = resolved(&["--config", file_flag]).backend_config();
            assert_eq!(by_flags.retry(), by_file.retry(), "{flags:?} / {yaml}");
            // Nothing else differs either: the flags take the library's defaults.
            assert_eq!(by_flags, by_file, "{flags:?} / {yaml}");
            by_flags.retry().cloned()
        };
        let vault_flags = [
            "--backend",
            "vault",
            "--vault-addr",
            "http://127.0.0.1:8200",
            "--vault-transit-key",
            "kube",
        ];
        let vault = same(
            &vault_flags,
            "backend:\n  vault: {address: http://127.0.0.1:8200, key: kube}\n",
        );
        assert_eq!(vault, Some(apiserver.clone()));
        let aws = same(
            &[
                "--backend",
                "aws-kms",
                "--aws-kms-key",
                "arn:aws:kms:eu-west-1:111122223333:key/k",
            ],
            "aws_kms: {key: 'arn:aws:kms:eu-west-1:111122223333:key/k'}\n",
        );
        assert_eq!(aws, Some(apiserver));
        same(
            &[
                &vault_flags[..],
                &["--vault-role-id", "r1", "--vault-secret-id-file", "/sid"],
            ]
            .concat(),
            "vault: {address: 'http://127.0.0.1:8200', key: kube, \
             auth: {method: approle, role_id: r1, secret_id_file: /sid}}\n",
        );
        same(
            &[&vault_flags[..], &["--vault-k8s-role", "kms"]].concat(),
            "vault: {address: 'http://127.0.0.1:8200', key: kube, \
             auth: {method: kubernetes, role: kms}}\n",
        );
        let hsm = same(
            &[
                "--backend",
                "pkcs11",
                "--pkcs11-module",
                "/m.so",
                "--pkcs11-token-label",
                "t",
                "--pkcs11-key-label",
                "k",
            ],
            "pkcs11: {module: /m.so, token_label: t, key_label: k}\n",
        );
        assert_eq!(
            hsm.map(|r| (r.timeout, r.attempts)),
            Some((Duration::from_millis(1500), 1))
        );
        // --call-timeout stretches the budget over a file's default.
        let longer = resolved(&["--config", file_flag, "--call-timeout", "6s"]);
        assert_eq!(longer.call_timeout, Duration::from_secs(6));
        assert_eq!(longer.backend_config().retry().map(|r| r.attempts), Some(1));
        assert!(Cli::try_parse_from(["serve", "--call-timeout", "0"]).is_err());
    }
}
