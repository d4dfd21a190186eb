//! `ksec controller`: the in-cluster SealedSecret controller, with every flag of Bitnami's
//! controller and its `SEALED_SECRETS_*` environment variable, so a Deployment can swap
//! the image and keep its arguments.
use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgAction, Args};
use ksec_controller::config::{
    own_identity, own_namespace, parse_go_duration, parse_key_values, parse_listen_addr,
    parse_rfc1123z,
};
use ksec_controller::{Config, Error, KeyOrder, Namespaces, Setting};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// Bitnami's controller flags (same names, defaults and environment variables).
#[derive(Args, Debug, Clone)]
pub struct ControllerArgs {
    /// Prefix used to name keys.
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_PREFIX",
        default_value = "sealed-secrets-key"
    )]
    pub key_prefix: String,
    /// Size of encryption key.
    #[arg(long, env = "SEALED_SECRETS_KEY_SIZE", default_value_t = 4096)]
    pub key_size: usize,
    /// Duration that certificate is valid for.
    #[arg(long, env = "SEALED_SECRETS_KEY_TTL", default_value = "87600h", value_parser = go_duration)]
    pub key_ttl: Duration,
    /// Common name to be used as issuer/subject DN in generated certificate.
    #[arg(long, env = "SEALED_SECRETS_MY_CN", default_value = "")]
    pub my_cn: String,
    /// New key generation period (automatic rotation deactivated if 0).
    #[arg(long, env = "SEALED_SECRETS_KEY_RENEW_PERIOD", default_value = "720h", value_parser = go_duration)]
    pub key_renew_period: Duration,
    /// Deprecated: use --key-renew-period.
    #[arg(long, env = "SEALED_SECRETS_ROTATE_PERIOD", value_parser = go_duration, hide = true)]
    pub rotate_period: Option<Duration>,
    /// Ordering of keys based on NotBefore certificate attribute or secret creation timestamp
    /// (CertNotBefore, SecretCreationTimestamp).
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_ORDER_PRIORITY",
        default_value = "CertNotBefore"
    )]
    pub key_order_priority: String,
    /// Accept deprecated V1 data field.
    #[arg(long, env = "SEALED_SECRETS_ACCEPT_DEPRECATED_V1_DATA", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub accept_deprecated_v1_data: bool,
    /// Create a new key if latest one is older than this cutoff time. RFC1123 format with
    /// numeric timezone expected ("Mon, 02 Jan 2006 15:04:05 -0700").
    #[arg(long, env = "SEALED_SECRETS_KEY_CUTOFF_TIME", default_value = "")]
    pub key_cutoff_time: String,
    /// Scan all namespaces or only the current namespace.
    #[arg(long, env = "SEALED_SECRETS_ALL_NAMESPACES", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub all_namespaces: bool,
    /// Comma-separated list of additional namespaces to be scanned.
    #[arg(long, env = "SEALED_SECRETS_ADDITIONAL_NAMESPACES", default_value = "")]
    pub additional_namespaces: String,
    /// Label selector which can be used to filter sealed secrets.
    #[arg(long, env = "SEALED_SECRETS_LABEL_SELECTOR", default_value = "")]
    pub label_selector: String,
    /// Number of allowed sustained requests per second for the verify and rotate endpoints.
    #[arg(long, env = "SEALED_SECRETS_RATE_LIMIT", default_value_t = 2)]
    pub rate_limit: u32,
    /// Number of requests allowed to exceed the rate limit per second for the verify and rotate endpoints.
    #[arg(long, env = "SEALED_SECRETS_RATE_LIMIT_BURST", default_value_t = 2)]
    pub rate_limit_burst: u32,
    /// Do not publish sealed_secrets_controller_condition_info (it names SealedSecrets).
    #[arg(long, env = "SEALED_SECRETS_METRICS_OMIT_SECRET_LABELS", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub metrics_omit_secret_labels: bool,
    /// Comma-separated list of additional annotations to be put on renewed sealing keys.
    #[arg(
        long,
        env = "SEALED_SECRETS_PRIVATEKEY_ANNOTATIONS",
        default_value = ""
    )]
    pub privatekey_annotations: String,
    /// Comma-separated list of additional labels to be put on renewed sealing keys.
    #[arg(long, env = "SEALED_SECRETS_PRIVATEKEY_LABELS", default_value = "")]
    pub privatekey_labels: String,
    /// Not supported: ksec always lets Kubernetes garbage-collect Secrets through owner
    /// references (Bitnami's default). `--old-gc-behavior=true` is refused.
    #[arg(long, env = "SEALED_SECRETS_OLD_GC_BEHAVIOR", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub old_gc_behavior: bool,
    /// Update the status sub-resource whenever a sealed secret is processed.
    #[arg(long, env = "SEALED_SECRETS_UPDATE_STATUS", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub update_status: bool,
    /// Follow key Secrets created by others while running. ksec always does (every replica
    /// must serve the newest certificate); accepted for compatibility.
    #[arg(long, env = "SEALED_SECRETS_WATCH_FOR_SECRETS", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub watch_for_secrets: bool,
    /// Do not watch managed Secrets to recreate them when deleted.
    #[arg(long, env = "SEALED_SECRETS_SKIP_RECREATE", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub skip_recreate: bool,
    /// Log info to stdout and warnings/errors to stderr (otherwise everything to stderr).
    #[arg(long, env = "SEALED_SECRETS_LOG_INFO_STDOUT", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub log_info_stdout: bool,
    /// Log level (DEBUG|INFO|WARN|ERROR).
    #[arg(long, env = "SEALED_SECRETS_LOG_LEVEL", default_value = "INFO")]
    pub log_level: String,
    /// Log format (text|json).
    #[arg(long, env = "SEALED_SECRETS_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Max unseal retries.
    #[arg(long, env = "SEALED_SECRETS_MAX_UNSEAL_RETRIES", default_value_t = 5)]
    pub max_unseal_retries: u32,
    /// Accepted for compatibility; ksec does not rate-limit its API client.
    #[arg(long, env = "SEALED_SECRETS_KUBECLIENT_QPS", default_value_t = 5.0)]
    pub kubeclient_qps: f32,
    /// Accepted for compatibility; ksec does not rate-limit its API client.
    #[arg(long, env = "SEALED_SECRETS_KUBECLIENT_BURST", default_value_t = 10)]
    pub kubeclient_burst: u32,
    /// HTTP serving address.
    #[arg(long, env = "SEALED_SECRETS_LISTEN_ADDR", default_value = ":8080", value_parser = listen_addr)]
    pub listen_addr: SocketAddr,
    /// HTTP metrics serving address.
    #[arg(long, env = "SEALED_SECRETS_LISTEN_METRICS_ADDR", default_value = ":8081", value_parser = listen_addr)]
    pub listen_metrics_addr: SocketAddr,
    /// HTTP request timeout. Accepted for compatibility; not applied yet (request bodies
    /// are capped at 2 MiB instead).
    #[arg(long, env = "SEALED_SECRETS_READ_TIMEOUT", default_value = "2m", value_parser = go_duration)]
    pub read_timeout: Duration,
    /// HTTP response timeout. Accepted for compatibility; not applied yet.
    #[arg(long, env = "SEALED_SECRETS_WRITE_TIMEOUT", default_value = "2m", value_parser = go_duration)]
    pub write_timeout: Duration,
}

fn go_duration(s: &str) -> Result<Duration, String> {
    parse_go_duration(s).map_err(|e| e.to_string())
}

fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    parse_listen_addr(s).map_err(|e| e.to_string())
}

/// The flag of a controller setting, for messages.
fn flag_of(setting: Setting) -> &'static str {
    match setting {
        Setting::KeySize => "--key-size",
        Setting::KeyPrefix => "--key-prefix",
        Setting::KeyOrderPriority => "--key-order-priority",
        Setting::KeyCutoffTime => "--key-cutoff-time",
        Setting::PrivateKeyLabels => "--privatekey-labels",
        Setting::PrivateKeyAnnotations => "--privatekey-annotations",
        Setting::RateLimit => "--rate-limit",
        // Lease timings have no flag (Bitnami's controller has none either).
        _ => "leader election",
    }
}

/// A controller error, with the flag in place of the setting's name.
fn with_flag(e: Error) -> anyhow::Error {
    match e {
        Error::Setting { setting, problem } => anyhow!("{}: {problem}", flag_of(setting)),
        // One line: the library's messages already include their cause.
        other => anyhow!("{other}"),
    }
}

/// Turns the flags into the controller's settings; errors name the flag.
pub fn config_from(args: &ControllerArgs, namespace: &str, identity: &str) -> Result<Config> {
    if args.old_gc_behavior {
        bail!("--old-gc-behavior=true is not supported: ksec relies on owner references, so Kubernetes deletes a SealedSecret's Secret with it");
    }
    let key_order: KeyOrder = args.key_order_priority.parse().map_err(with_flag)?;
    let key_cutoff_time = if args.key_cutoff_time.trim().is_empty() {
        None
    } else {
        Some(parse_rfc1123z(&args.key_cutoff_time).map_err(with_flag)?)
    };
    let namespaces =
        Namespaces::select(args.all_namespaces, namespace, &args.additional_namespaces);
    let config = Config {
        namespace: namespace.into(),
        identity: identity.into(),
        key_prefix: args.key_prefix.clone(),
        key_size: args.key_size,
        key_ttl: args.key_ttl,
        my_cn: args.my_cn.clone(),
        key_renew_period: args.rotate_period.unwrap_or(args.key_renew_period),
        key_cutoff_time,
        key_order,
        privatekey_labels: parse_key_values(Setting::PrivateKeyLabels, &args.privatekey_labels)
            .map_err(with_flag)?,
        privatekey_annotations: parse_key_values(
            Setting::PrivateKeyAnnotations,
            &args.privatekey_annotations,
        )
        .map_err(with_flag)?,
        namespaces,
        label_selector: args.label_selector.clone(),
        update_status: args.update_status,
        skip_recreate: args.skip_recreate,
        watch_for_secrets: args.watch_for_secrets,
        accept_v1_data: args.accept_deprecated_v1_data,
        metrics_omit_secret_labels: args.metrics_omit_secret_labels,
        max_unseal_retries: args.max_unseal_retries,
        listen_addr: args.listen_addr,
        listen_metrics_addr: args.listen_metrics_addr,
        rate_limit: args.rate_limit,
        rate_limit_burst: args.rate_limit_burst,
        ..Config::default()
    };
    config.validate().map_err(with_flag)?;
    Ok(config)
}

/// Sets up logging per `--log-level`, `--log-format`, `--log-info-stdout`.
pub fn init_logging(args: &ControllerArgs) -> Result<()> {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let level = match args.log_level.to_ascii_uppercase().as_str() {
        "DEBUG" => tracing::Level::DEBUG,
        "INFO" => tracing::Level::INFO,
        "WARN" | "WARNING" => tracing::Level::WARN,
        "ERROR" => tracing::Level::ERROR,
        other => bail!("--log-level: {other:?} is not DEBUG, INFO, WARN or ERROR"),
    };
    let json = match args.log_format.as_str() {
        "text" => false,
        "json" => true,
        other => bail!("--log-format: {other:?} is not text or json"),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KSEC_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "warn,ksec={level},ksec_controller={level}",
            level = level.as_str().to_lowercase()
        ))
    });
    let errors = std::io::stderr.with_max_level(tracing::Level::WARN);
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match (json, args.log_info_stdout) {
        (true, true) => builder
            .json()
            .with_writer(errors.or_else(std::io::stdout))
            .try_init(),
        (true, false) => builder.json().with_writer(std::io::stderr).try_init(),
        (false, true) => builder
            .with_writer(errors.or_else(std::io::stdout))
            .try_init(),
        (false, false) => builder.with_writer(std::io::stderr).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

/// Runs the controller until SIGTERM or SIGINT.
pub fn run(args: ControllerArgs) -> Result<ExitCode> {
    init_logging(&args)?;
    let namespace = own_namespace();
    let identity = own_identity();
    let config = config_from(&args, &namespace, &identity)?;
    ksec_controller::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        // The one kubeconfig/in-cluster loader of the workspace. A long-running
        // controller keeps kube-rs's retry of throttled and unavailable answers.
        let mut cluster = ksec_kube::ClusterConfig::load(&ksec_kube::KubeOptions::default())
            .await
            .context("cannot reach the Kubernetes API (in-cluster service account or KUBECONFIG)")?;
        cluster.config_mut().default_retry = true;
        let client = cluster
            .client()
            .context("cannot reach the Kubernetes API (in-cluster service account or KUBECONFIG)")?;
        tracing::info!(version = env!("CARGO_PKG_VERSION"), namespace = %config.namespace, "starting ksec controller");
        let shutdown = async {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        ksec_controller::run(client, config, shutdown)
            .await
            .map_err(with_flag)?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ControllerArgs,
    }

    fn parse(args: &[&str]) -> ControllerArgs {
        T::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap()
            .a
    }

    #[test]
    fn defaults_are_bitnamis() {
        let c = config_from(&parse(&[]), "kube-system", "pod").unwrap();
        assert_eq!(c.key_size, 4096);
        assert_eq!(c.key_renew_period, Duration::from_secs(720 * 3600));
        assert_eq!(c.key_ttl, Duration::from_secs(87600 * 3600));
        assert_eq!(c.namespaces, Namespaces::All);
        assert_eq!(c.listen_addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.listen_metrics_addr, "0.0.0.0:8081".parse().unwrap());
        assert_eq!((c.rate_limit, c.rate_limit_burst), (2, 2));
        assert!(c.update_status && !c.skip_recreate && c.accept_v1_data);
        assert_eq!(c.max_unseal_retries, 5);
    }

    #[test]
    fn flags_in_go_syntax() {
        let a = parse(&[
            "--all-namespaces=false",
            "--additional-namespaces=a,b,a",
            "--key-renew-period=0",
            "--key-cutoff-time=Mon, 02 Jan 2006 15:04:05 -0700",
            "--privatekey-labels=x=y",
            "--key-order-priority=SecretCreationTimestamp",
            "--update-status=false",
            "--skip-recreate",
            "--listen-addr=127.0.0.1:9000",
        ]);
        let c = config_from(&a, "sealed", "pod").unwrap();
        assert_eq!(
            c.namespaces,
            Namespaces::Only(vec!["sealed".into(), "a".into(), "b".into()])
        );
        assert!(c.key_renew_period.is_zero());
        assert!(c.key_cutoff_time.is_some());
        assert_eq!(c.privatekey_labels["x"], "y");
        assert_eq!(c.key_order, KeyOrder::SecretCreationTimestamp);
        assert!(!c.update_status && c.skip_recreate);
        assert_eq!(c.listen_addr.port(), 9000);
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, flag) in [
            (vec!["--key-order-priority=Newest"], "--key-order-priority"),
            (vec!["--key-cutoff-time=yesterday"], "--key-cutoff-time"),
            (vec!["--privatekey-labels=novalue"], "--privatekey-labels"),
            (vec!["--key-size=100"], "--key-size"),
            (vec!["--key-prefix=Bad_Prefix"], "--key-prefix"),
            (vec!["--rate-limit=0"], "--rate-limit"),
            (
                vec!["--privatekey-annotations=a=b,=c"],
                "--privatekey-annotations",
            ),
            (vec!["--old-gc-behavior"], "--old-gc-behavior"),
        ] {
            let e = config_from(&parse(&args), "ns", "pod")
                .unwrap_err()
                .to_string();
            assert!(e.contains(flag), "{args:?}: {e}");
        }
        assert!(T::try_parse_from(["x", "--key-renew-period=30d"]).is_err());
    }
}
