//! `ksec seal`, and `kubeseal` when ksec is invoked under that name: kubeseal's flags
//! with kubeseal's meaning, each also read from its `SEALED_SECRETS_*` variable.
use crate::cluster::{self, controller_hint};
use crate::io::{self, Input};
use crate::kube_args::KubeArgs;
use anyhow::{anyhow, bail, Result};
use clap::Args;
use ksec_crypto::rsa::RsaPrivateKey;
use ksec_seal::cluster::Controller;
use ksec_seal::keys::SealingKey;
use ksec_seal::render::{self, Format};
use ksec_seal::{docs, Error, Scope, SealOptions, Sealer, Secret};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

/// kubeseal's flags. The cluster flags read kubeseal's variables too.
#[derive(Args, Debug, Clone, Default)]
#[command(
    mut_arg("kubeconfig", |a| a.env("SEALED_SECRETS_KUBECONFIG")),
    mut_arg("context", |a| a
        .env("SEALED_SECRETS_CONTEXT")
        .help("The kubeconfig context to use (its namespace is the default for -n)")),
    mut_arg("server", |a| a.env("SEALED_SECRETS_SERVER")),
    mut_arg("token", |a| a.env("SEALED_SECRETS_TOKEN")),
    mut_arg("user", |a| a.env("SEALED_SECRETS_USER")),
    mut_arg("kube_cluster", |a| a.env("SEALED_SECRETS_CLUSTER")),
    mut_arg("certificate_authority", |a| a.env("SEALED_SECRETS_CERTIFICATE_AUTHORITY")),
    mut_arg("client_certificate", |a| a.env("SEALED_SECRETS_CLIENT_CERTIFICATE")),
    mut_arg("client_key", |a| a.env("SEALED_SECRETS_CLIENT_KEY")),
    mut_arg("insecure_skip_tls_verify", |a| a.env("SEALED_SECRETS_INSECURE_SKIP_TLS_VERIFY")),
    mut_arg("tls_server_name", |a| a.env("SEALED_SECRETS_TLS_SERVER_NAME")),
    mut_arg("impersonate", |a| a.env("SEALED_SECRETS_AS")),
    mut_arg("impersonate_groups", |a| a.env("SEALED_SECRETS_AS_GROUP")),
    mut_arg("impersonate_uid", |a| a.env("SEALED_SECRETS_AS_UID")),
    mut_arg("request_timeout", |a| a.env("SEALED_SECRETS_REQUEST_TIMEOUT")),
)]
pub struct SealArgs {
    /// Certificate / public key file or URL (http, https, file) to seal with. Repeat to seal for
    /// several clusters at once: one output per certificate, named after the certificate file.
    #[arg(long, env = "SEALED_SECRETS_CERT", value_name = "FILE|URL")]
    pub cert: Vec<String>,
    /// Scope of the sealed secret: strict, namespace-wide, cluster-wide (default strict, or the
    /// scope annotations of the input Secret).
    #[arg(long, env = "SEALED_SECRETS_SCOPE", value_parser = parse_scope)]
    pub scope: Option<Scope>,
    /// Output format: json or yaml (yaml when the output file ends in .yaml/.yml).
    #[arg(
        short = 'o',
        long,
        env = "SEALED_SECRETS_FORMAT",
        default_value = "json"
    )]
    pub format: String,
    /// Secret (input) file; standard input when absent.
    #[arg(
        short = 'f',
        long = "secret-file",
        env = "SEALED_SECRETS_SECRET_FILE",
        value_name = "FILE"
    )]
    pub secret_file: Option<PathBuf>,
    /// Sealed secret (output) file; standard output when absent. Written atomically.
    #[arg(
        short = 'w',
        long = "sealed-secret-file",
        env = "SEALED_SECRETS_SEALED_SECRET_FILE",
        value_name = "FILE"
    )]
    pub sealed_secret_file: Option<PathBuf>,
    /// Namespace for a Secret that declares none (otherwise the kubeconfig's namespace).
    #[arg(short = 'n', long, env = "SEALED_SECRETS_NAMESPACE")]
    pub namespace: Option<String>,
    /// Name of the sealed secret (required with --raw and the strict scope).
    #[arg(long, env = "SEALED_SECRETS_NAME")]
    pub name: Option<String>,
    /// Seal one raw value (from --from-file or standard input) and print it base64-encoded.
    #[arg(long, env = "SEALED_SECRETS_RAW")]
    pub raw: bool,
    /// With --raw: read the value from this file ([key=]path, kubectl's syntax).
    #[arg(
        long = "from-file",
        env = "SEALED_SECRETS_FROM_FILE",
        value_delimiter = ',',
        value_name = "[KEY=]FILE"
    )]
    pub from_file: Vec<String>,
    /// Merge the Secret's items into this existing SealedSecret file, in place. With
    /// --recovery-private-key, unchanged values keep their ciphertext (quiet git diffs).
    #[arg(
        long = "merge-into",
        env = "SEALED_SECRETS_MERGE_INTO",
        value_name = "FILE"
    )]
    pub merge_into: Option<PathBuf>,
    /// Allow a Secret without data.
    #[arg(long = "allow-empty-data", env = "SEALED_SECRETS_ALLOW_EMPTY_DATA")]
    pub allow_empty_data: bool,
    /// Decrypt a SealedSecret from the input with --recovery-private-key (disaster recovery).
    #[arg(long = "recovery-unseal", env = "SEALED_SECRETS_RECOVERY_UNSEAL")]
    pub recovery_unseal: bool,
    /// Private key file(s): PEM, a key Secret, or a List of them. Repeat or separate with commas.
    #[arg(
        long = "recovery-private-key",
        env = "SEALED_SECRETS_RECOVERY_PRIVATE_KEY",
        value_delimiter = ',',
        value_name = "FILE"
    )]
    pub recovery_private_key: Vec<PathBuf>,
    /// Write the certificate to standard output (or -w): the controller's, fetched through
    /// the API server's service proxy, or with --cert a copy of that one.
    #[arg(long = "fetch-cert", env = "SEALED_SECRETS_FETCH_CERT")]
    pub fetch_cert: bool,
    /// Ask the controller whether it can decrypt the SealedSecret(s) of the input.
    #[arg(long, env = "SEALED_SECRETS_VALIDATE")]
    pub validate: bool,
    /// Re-encrypt the SealedSecret(s) of the input with the controller's newest key (in
    /// place when only -f is given; offline: ksec reseal).
    #[arg(
        long = "re-encrypt",
        visible_alias = "rotate",
        env = "SEALED_SECRETS_RE_ENCRYPT"
    )]
    pub re_encrypt: bool,
    /// Namespace of the sealed-secrets controller.
    #[arg(
        long = "controller-namespace",
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        default_value = "kube-system"
    )]
    pub controller_namespace: String,
    /// Name of the sealed-secrets controller.
    #[arg(
        long = "controller-name",
        env = "SEALED_SECRETS_CONTROLLER_NAME",
        default_value = "sealed-secrets-controller"
    )]
    pub controller_name: String,
    /// How to reach the cluster (kubeconfig, context, kubectl's overrides).
    #[command(flatten)]
    pub kube: KubeArgs,
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

/// A library error with the flag that fixes it: ksec-seal names the problem, the
/// command line knows which of its flags is the way out.
pub(crate) fn with_hint(e: Error) -> anyhow::Error {
    let hint = match e.innermost() {
        Error::EmptyData => "use --allow-empty-data to seal it anyway",
        Error::MissingName => "add one, or pass --name",
        Error::MissingNamespace { .. } => {
            "add it, pass -n/--namespace, or use --scope cluster-wide"
        }
        _ => return e.into(),
    };
    anyhow!("{e}; {hint}")
}

/// Reads the sealing certificate from a file or URL (`--cert`) into a sealer.
pub(crate) fn sealer_for(cert: &str, now: SystemTime) -> Result<Sealer> {
    let bytes = ksec_seal::read_certificate(cert)?;
    Sealer::from_certificate(&bytes, cert, now).map_err(|e| {
        let hint = match e.innermost() {
            Error::CertificateExpired { .. } => {
                "fetch the controller's current certificate (ksec keys cert, or kubeseal --fetch-cert)"
            }
            _ => "--cert needs the controller's PEM certificate (ksec keys cert, kubeseal --fetch-cert)",
        };
        anyhow!("{e}; {hint}")
    })
}

const TTY_HINT: &str = "(tty detected: expecting json/yaml k8s resource in stdin)";

impl SealArgs {
    fn output_format(&self, out: Option<&Path>) -> Result<Format> {
        if let Some(ext) = out.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
            if ext == "yaml" || ext == "yml" {
                return Ok(Format::Yaml);
            }
        }
        Ok(self.format.parse()?)
    }

    fn kube_options(&self) -> ksec_kube::KubeOptions {
        self.kube.options(None)
    }

    /// The controller named by --controller-namespace and --controller-name.
    async fn controller(&self) -> Result<Controller> {
        Controller::find(
            &self.kube_options(),
            &self.controller_namespace,
            &self.controller_name,
        )
        .await
        .map_err(controller_hint)
    }

    /// The controller's certificate, fetched through the API server's service proxy.
    fn cluster_certificate(&self) -> Result<Vec<u8>> {
        cluster::block_on(async {
            let controller = self.controller().await?;
            controller.certificate().await.map_err(controller_hint)
        })
        .map_err(|e| {
            offline_hint(
                e,
                "to seal without the cluster, pass --cert FILE|URL (the controller's certificate, from ksec seal --fetch-cert)",
            )
        })
    }

    fn default_namespace(&self) -> Option<String> {
        self.namespace
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| {
                // As before, a kubeconfig that cannot be read gives no namespace.
                ksec_kube::default_namespace(
                    self.kube.kubeconfig.as_deref(),
                    self.kube.context.as_deref(),
                )
                .ok()
                .flatten()
            })
    }
}

/// Runs seal (and kubeseal's other modes).
pub fn run(mut args: SealArgs) -> Result<ExitCode> {
    // kubeseal's deprecated --rotate has its own variable (clap gives one per flag).
    if !args.re_encrypt {
        args.re_encrypt = std::env::var("SEALED_SECRETS_ROTATE")
            .is_ok_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"));
    }
    if !args.from_file.is_empty() && !args.raw {
        bail!("--from-file requires --raw");
    }
    let input = Input::from_arg(args.secret_file.as_deref());
    if args.recovery_unseal {
        return recovery_unseal(&args, &input);
    }
    if args.validate {
        return validate(&args, &input);
    }
    if args.re_encrypt {
        return re_encrypt(&args, &input);
    }
    if args.fetch_cert {
        let mut out = vec![];
        if args.cert.is_empty() {
            out = args.cluster_certificate()?;
        }
        for c in &args.cert {
            out.extend(ksec_seal::read_certificate(c)?);
        }
        io::emit(args.sealed_secret_file.as_deref(), &out, 0o644)?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = SystemTime::now();
    let opts = SealOptions {
        scope: args.scope,
        allow_empty_data: args.allow_empty_data,
        name: args.name.clone(),
        default_namespace: args.default_namespace(),
    };
    let mut certs = vec![];
    for c in &args.cert {
        certs.push((c.clone(), sealer_for(c, now)?.with_options(opts.clone())));
    }
    if certs.is_empty() {
        let pem = args.cluster_certificate()?;
        let what = format!(
            "the certificate of the sealed-secrets controller {}/{}",
            args.controller_namespace, args.controller_name
        );
        let sealer = Sealer::from_certificate(&pem, &what, now).map_err(|e| {
            let hint = match e.innermost() {
                Error::CertificateExpired { .. } => "the controller has not renewed its key; check its --key-renew-period, or seal with a newer certificate (--cert)",
                _ => "is --controller-name the sealed-secrets controller? (or pass --cert FILE)",
            };
            anyhow!("{e}; {hint}")
        })?;
        certs.push((what, sealer.with_options(opts.clone())));
    }
    if certs.len() > 1 && args.sealed_secret_file.is_none() && args.merge_into.is_none() {
        bail!("{} certificates given: pass -w/--sealed-secret-file FILE; each cluster's output is FILE with the certificate's name inserted (sealed.yaml → sealed.<cert>.yaml)", certs.len());
    }
    if args.raw {
        return seal_raw(&args, &input, &certs);
    }
    let data = input.read(TTY_HINT)?;
    let secrets = ksec_seal::read_secrets(&data, &input.name())?;
    let recovery = load_keys(&args.recovery_private_key)?;
    for (cert_name, sealer) in &certs {
        let target = output_for(args.sealed_secret_file.as_deref(), cert_name, certs.len());
        if let Some(merge) = &args.merge_into {
            let merge =
                output_for(Some(merge), cert_name, certs.len()).unwrap_or_else(|| merge.clone());
            merge_into(&args, &merge, &secrets, sealer, &recovery)?;
            continue;
        }
        let format = args.output_format(target.as_deref())?;
        let mut out = String::new();
        for (i, s) in secrets.iter().enumerate() {
            let ss = sealer
                .seal(s.clone())
                .map_err(|e| with_hint(docs::in_document(e, &input.name(), i, secrets.len())))?;
            out.push_str(&render::document(&ss.to_value(), format));
        }
        io::emit(target.as_deref(), out.as_bytes(), 0o644)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The output for one certificate (`ksec_seal::output_for_certificate`); standard output
/// stays standard output.
fn output_for(out: Option<&Path>, cert: &str, count: usize) -> Option<PathBuf> {
    out.map(|o| ksec_seal::output_for_certificate(o, cert, count))
}

/// Loads private keys from files (PEM, key Secrets, Lists; age-encrypted backups need
/// identities, see [`crate::keyfiles::load_keys`]).
pub fn load_keys(files: &[PathBuf]) -> Result<Vec<SealingKey>> {
    crate::keyfiles::load_keys(files, &[])
}

fn seal_raw(args: &SealArgs, input: &Input, certs: &[(String, Sealer)]) -> Result<ExitCode> {
    let scope = args.scope.unwrap_or_default();
    let namespace = if scope.needs_namespace() {
        args.default_namespace().unwrap_or_default()
    } else {
        String::new()
    };
    if scope.needs_namespace() && namespace.is_empty() {
        bail!("must provide the --namespace flag with --raw and --scope {scope}");
    }
    let name = args.name.clone().unwrap_or_default();
    if scope.needs_name() && name.is_empty() {
        bail!("must provide the --name flag with --raw and --scope {scope}");
    }
    if args.from_file.len() > 1 {
        bail!("must provide only one --from-file when encrypting a single item with --raw");
    }
    let value = zeroize::Zeroizing::new(match args.from_file.first() {
        Some(spec) => {
            let path = spec.split_once('=').map(|(_, p)| p).unwrap_or(spec);
            io::read_file(Path::new(path))?
        }
        None => match input {
            Input::File(p) => io::read_file(p)?,
            Input::Stdin => {
                Input::Stdin.read("(tty detected: expecting a secret to encrypt in stdin)")?
            }
        },
    });
    for (cert_name, sealer) in certs {
        let sealed = sealer.seal_raw(&value, &namespace, &name)?;
        let target = output_for(args.sealed_secret_file.as_deref(), cert_name, certs.len());
        io::emit(target.as_deref(), sealed.as_bytes(), 0o644)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn merge_into(
    args: &SealArgs,
    file: &Path,
    secrets: &[Secret],
    sealer: &Sealer,
    recovery: &[SealingKey],
) -> Result<()> {
    let name = file.display().to_string();
    let orig_bytes = io::read_file(file)?;
    let format = if args.format != "json" {
        Some(args.output_format(None)?)
    } else {
        None
    };
    let keys: Vec<&RsaPrivateKey> = recovery.iter().map(|k| &k.key).collect();
    // The name and namespace are the existing SealedSecret's.
    let merged = sealer
        .merge_into_manifest(&orig_bytes, &name, secrets, &keys, format)
        .map_err(|e| match e {
            Error::MergeShape { sealed_secrets, .. } => anyhow!(
                "--merge-into takes one Secret and a file holding one SealedSecret ({name} holds {sealed_secrets})"
            ),
            e => with_hint(e),
        })?;
    io::write_atomic(file, merged.text.as_bytes(), 0o644)?;
    let report = merged.report;
    if !recovery.is_empty() {
        eprintln!(
            "{name}: {} value(s) unchanged (ciphertext kept), {} resealed{}",
            report.unchanged.len(),
            report.resealed.len(),
            if report.resealed.is_empty() {
                String::new()
            } else {
                format!(": {}", report.resealed.join(", "))
            }
        );
    }
    Ok(())
}

/// The error, with how to do without the cluster unless it says so already.
fn offline_hint(e: anyhow::Error, hint: &str) -> anyhow::Error {
    let text = format!("{e:#}");
    if text.contains("--cert") || text.contains("ksec reseal") {
        e
    } else {
        anyhow!("{text}; {hint}")
    }
}

/// kubeseal --validate: the controller says whether it can decrypt each SealedSecret.
fn validate(args: &SealArgs, input: &Input) -> Result<ExitCode> {
    let data = input.read(TTY_HINT)?;
    let sealed = ksec_seal::read_sealed_secrets(&data, &input.name())?;
    cluster::block_on(async {
        let controller = args.controller().await?;
        for ss in &sealed {
            if !controller.verify(ss).await.map_err(controller_hint)? {
                bail!(
                    "unable to decrypt sealed secret: {} ({}: the controller {}/{} has no key that opens it under namespace {:?})",
                    ss.metadata.name(),
                    input.name(),
                    args.controller_namespace,
                    args.controller_name,
                    ss.metadata.namespace()
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// kubeseal --re-encrypt: the controller re-seals each SealedSecret with its newest key
/// (`/v1/rotate`, which runs ksec_seal::reseal). With only -f, the file is rewritten in
/// place (kubeseal's behaviour).
fn re_encrypt(args: &SealArgs, input: &Input) -> Result<ExitCode> {
    let data = input.read(TTY_HINT)?;
    let sealed = ksec_seal::read_sealed_secrets(&data, &input.name())?;
    let target = match (&args.sealed_secret_file, input) {
        (Some(w), _) => Some(w.clone()),
        (None, Input::File(f)) => Some(f.clone()),
        (None, Input::Stdin) => None,
    };
    let format = args.output_format(target.as_deref())?;
    let rotated = cluster::block_on(async {
        let controller = args.controller().await?;
        let mut out = String::new();
        for ss in &sealed {
            let Some(rotated) = controller.rotate(ss).await.map_err(controller_hint)? else {
                bail!(
                    "unable to rotate secret {}/{} ({}): no key of the controller {}/{} opens it; nothing was written",
                    ss.metadata.namespace(),
                    ss.metadata.name(),
                    input.name(),
                    args.controller_namespace,
                    args.controller_name
                );
            };
            out.push_str(&render::document(&rotated.to_value(), format));
        }
        Ok(out)
    });
    let out = rotated.map_err(|e| {
        offline_hint(
            e,
            "without the cluster, re-seal with the old keys: ksec reseal -k OLD-KEYS --cert NEW.pem FILE",
        )
    })?;
    io::emit(target.as_deref(), out.as_bytes(), 0o644)?;
    Ok(ExitCode::SUCCESS)
}

fn recovery_unseal(args: &SealArgs, input: &Input) -> Result<ExitCode> {
    if args.recovery_private_key.is_empty() {
        bail!("--recovery-unseal needs --recovery-private-key FILE (PEM keys, or a backup of the controller's key Secrets)");
    }
    let keys = load_keys(&args.recovery_private_key)?;
    let data = input.read(TTY_HINT)?;
    let sealed = ksec_seal::read_sealed_secrets(&data, &input.name())?;
    let format = args.output_format(args.sealed_secret_file.as_deref())?;
    let refs: Vec<&RsaPrivateKey> = keys.iter().map(|k| &k.key).collect();
    let out = ksec_seal::unseal_all(&sealed, &input.name(), &refs, format)?;
    io::emit(args.sealed_secret_file.as_deref(), out.as_bytes(), 0o600)?;
    Ok(ExitCode::SUCCESS)
}
