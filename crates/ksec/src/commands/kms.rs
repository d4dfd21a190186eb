//! `ksec kms serve`: the KMS v2 (and v1beta1) plugin for kube-apiserver.
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use ksec_keys::awskms::AwsKmsConfig;
use ksec_keys::local::LocalConfig;
use ksec_keys::vault::{VaultAuth, VaultConfig};
use ksec_keys::{BackendConfig, Pkcs11Config, RetryPolicy};
use ksec_kms::{Plugin, PluginConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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

/// Timeouts for network backends under kube-apiserver, which gives a KMS call 3 s
/// by default: two attempts of 1 s and a short backoff stay inside that budget.
fn apiserver_budget() -> RetryPolicy {
    RetryPolicy {
        timeout: Duration::from_secs(1),
        attempts: 2,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    }
}

fn need<T: Clone>(v: &Option<T>, flag: &str, backend: &str) -> Result<T> {
    v.clone()
        .with_context(|| format!("--backend {backend} needs {flag}"))
}

fn backend_from_flags(a: &ServeArgs, kind: Backend) -> Result<BackendConfig> {
    Ok(match kind {
        Backend::Local => BackendConfig::Local(LocalConfig {
            key_file: need(&a.key_file, "--key-file", "local")?,
            allow_insecure_permissions: a.allow_insecure_key_file,
        }),
        Backend::Vault => {
            let auth = if let Some(role_id) = &a.vault_role_id {
                VaultAuth::Approle {
                    mount: "approle".into(),
                    role_id: role_id.clone(),
                    secret_id_file: Some(need(
                        &a.vault_secret_id_file,
                        "--vault-secret-id-file",
                        "vault",
                    )?),
                    secret_id_env: None,
                }
            } else if let Some(role) = &a.vault_k8s_role {
                VaultAuth::Kubernetes {
                    mount: "kubernetes".into(),
                    role: role.clone(),
                    jwt_file: "/var/run/secrets/kubernetes.io/serviceaccount/token".into(),
                }
            } else {
                VaultAuth::Token {
                    token_file: a.vault_token_file.clone(),
                    token_env: None,
                }
            };
            BackendConfig::Vault(VaultConfig {
                address: a.vault_addr.clone(),
                mount: a.vault_transit_mount.clone(),
                key: need(&a.vault_transit_key, "--vault-transit-key", "vault")?,
                namespace: None,
                auth,
                ca_file: a.vault_ca_file.clone(),
                derived: false,
                retry: apiserver_budget(),
            })
        }
        Backend::Pkcs11 => BackendConfig::Pkcs11(Pkcs11Config {
            module: need(&a.pkcs11_module, "--pkcs11-module", "pkcs11")?,
            token_label: need(&a.pkcs11_token_label, "--pkcs11-token-label", "pkcs11")?,
            key_label: need(&a.pkcs11_key_label, "--pkcs11-key-label", "pkcs11")?,
            pin_file: a.pkcs11_pin_file.clone(),
            pin_env: None,
            sessions: 4,
            retry: RetryPolicy {
                attempts: 1,
                ..RetryPolicy::default()
            },
        }),
        Backend::AwsKms => BackendConfig::AwsKms(AwsKmsConfig {
            key: need(&a.aws_kms_key, "--aws-kms-key", "aws-kms")?,
            region: a.aws_region.clone(),
            retry: apiserver_budget(),
            ..AwsKmsConfig::default()
        }),
    })
}

/// The effective configuration: the file, then the flags on top.
fn resolve(a: &ServeArgs) -> Result<PluginConfig> {
    let mut cfg = match (&a.config, a.backend) {
        (Some(path), _) => {
            let mut c = PluginConfig::from_file(path)?;
            if let Some(kind) = a.backend {
                c.backend = backend_from_flags(a, kind)?;
            }
            c
        }
        (None, Some(kind)) => PluginConfig::new(backend_from_flags(a, kind)?),
        (None, None) => bail!(
            "choose a key backend with --backend (local, vault, pkcs11, aws-kms) or --config FILE"
        ),
    };
    if a.socket.is_some() {
        cfg.socket = a.socket.clone();
    }
    if a.health_addr.is_some() {
        cfg.health_addr = a.health_addr.clone();
    }
    Ok(cfg)
}

/// Files whose change triggers a reload.
fn watched(a: &ServeArgs, cfg: &PluginConfig) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = a.config.iter().cloned().collect();
    if let BackendConfig::Local(l) = &cfg.backend {
        v.push(l.key_file.clone());
    }
    v
}

fn stamp(paths: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    paths
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

/// Rebuilds the backend; on failure the old one keeps serving.
async fn reload(a: &ServeArgs, plugin: &Plugin, why: &str) {
    let before = plugin.backend().key_id();
    let built = match resolve(a) {
        Ok(cfg) => cfg.backend.build().await.map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    match built {
        Ok(b) => {
            let after = b.key_id();
            plugin.replace_backend(b);
            tracing::info!(reason = why, key_id_before = %before, key_id = %after, "backend reloaded");
            eprintln!("ksec kms: reloaded ({why}); key id {after}");
        }
        Err(e) => {
            tracing::error!(reason = why, error = %e, "reload failed; the previous backend keeps serving");
            eprintln!("ksec kms: reload failed ({why}), still serving the previous backend: {e:#}");
        }
    }
}

async fn serve(a: ServeArgs) -> Result<ExitCode> {
    use tokio::signal::unix::{signal, SignalKind};
    let cfg = resolve(&a)?;
    let socket = cfg
        .socket
        .clone()
        .context("--socket (or `socket:` in --config) is required")?;
    let backend = cfg
        .backend
        .build()
        .await
        .context("cannot set up the key backend")?;
    let plugin = Plugin::new(
        backend,
        Duration::from_millis(cfg.health_ok_ttl_ms),
        Duration::from_millis(cfg.health_fail_ttl_ms),
    );
    match plugin.health().await {
        Ok(h) => eprintln!(
            "ksec kms: backend {} ready, key id {}",
            plugin.backend().kind(),
            h.key_id
        ),
        // Start anyway: Status reports the problem and the plugin recovers by itself.
        Err(e) => eprintln!(
            "ksec kms: backend {} not healthy yet: {e}",
            plugin.backend().kind()
        ),
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    if let Some(addr) = &cfg.health_addr {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--health-addr {addr}: cannot listen"))?;
        let p = plugin.clone();
        let done = stopped(stop_rx.clone());
        tokio::spawn(async move {
            if let Err(e) = ksec_kms::serve_health(l, p, done).await {
                tracing::error!(error = %e, "health endpoint failed");
            }
        });
    }
    // Reload on SIGHUP, or when a watched file changes (polled every 2 s).
    {
        let (a, p) = (a.clone(), plugin.clone());
        let files = watched(&a, &cfg);
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            let mut last = stamp(&files);
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tokio::select! {
                    _ = hup.recv() => reload(&a, &p, "SIGHUP").await,
                    _ = tick.tick() => {
                        let now = stamp(&files);
                        if now != last {
                            last = now;
                            reload(&a, &p, "file changed").await;
                        }
                    }
                }
            }
        });
    }
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        eprintln!("ksec kms: shutting down");
        let _ = stop_tx.send(true);
    };
    eprintln!("ksec kms: serving on {}", socket.display());
    ksec_kms::serve(&socket, Arc::clone(&plugin), shutdown).await?;
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
