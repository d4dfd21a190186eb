//! `ksec etcd audit|decrypt`: prove how every stored object is protected, and recover
//! the objects, from a live etcd or from a snapshot file. Read-only: ksec never writes
//! to etcd.
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use ksec_etcd::audit::{AuditEntry, KeyLabels, Outcome, Policy, Summary, Verdict};
use ksec_etcd::decrypt::Decryptor;
use ksec_etcd::encryption_config::EncryptionConfiguration;
use ksec_etcd::etcd::TlsFiles;
use ksec_etcd::recover::{recover, Dropped, ManifestFormat, RecoveryReport};
use ksec_etcd::source::{Location, ReadObserver, ReadStage, Scope, Source};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `ksec etcd …`
#[derive(Subcommand, Debug)]
pub enum EtcdCommand {
    /// Report how every stored object is protected (plaintext, aescbc, aesgcm, secretbox,
    /// KMS v1/v2 with provider and key). Exit 1 when anything is in plaintext or under a
    /// --fail-on-key key, 2 when something could not be read.
    Audit(Box<AuditArgs>),
    /// Decrypt every stored object back to its manifest, with the cluster's
    /// EncryptionConfiguration (disaster recovery, forensics). Objects that cannot be
    /// decrypted are reported on stderr with their etcd key; exit 1 if there was any.
    Decrypt(Box<DecryptArgs>),
}

/// Where the stored values come from.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// etcd endpoints (comma-separated), as etcdctl takes them.
    #[arg(
        long,
        value_delimiter = ',',
        env = "ETCDCTL_ENDPOINTS",
        default_value = "http://127.0.0.1:2379"
    )]
    pub endpoints: Vec<String>,
    /// CA bundle of etcd's server certificate.
    #[arg(long, value_name = "FILE", env = "ETCDCTL_CACERT")]
    pub cacert: Option<PathBuf>,
    /// Client certificate.
    #[arg(long, value_name = "FILE", env = "ETCDCTL_CERT")]
    pub cert: Option<PathBuf>,
    /// Client key.
    #[arg(long, value_name = "FILE", env = "ETCDCTL_KEY")]
    pub key: Option<PathBuf>,
    /// Connection and request timeout.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub timeout: String,
    /// Read a snapshot file (`etcdctl snapshot save`, or a member's db file) instead of
    /// a live etcd (the etcd flags are then ignored); no etcd needed.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// The apiserver's etcd prefix (--etcd-prefix).
    #[arg(long, default_value = "/registry")]
    pub prefix: String,
    /// Resources to read (repeatable): `secrets`, `configmaps`, or RESOURCE.GROUP
    /// (`deployments.apps`; custom resources, stored under PREFIX/GROUP/RESOURCE/).
    #[arg(long = "resource", value_delimiter = ',', default_value = "secrets")]
    pub resources: Vec<String>,
    /// Also read every older revision etcd still keeps (history since the last
    /// compaction), not only the current values.
    #[arg(long)]
    pub all_revisions: bool,
    /// Keys in the first etcd request; later requests ask for about 8 MiB of values.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub page_size: usize,
}

/// Audit output formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditFormat {
    /// One line per object, then a summary.
    Table,
    /// One JSON document: `objects` (etcd key, revision, storage) and `summary`.
    Json,
}

/// Arguments of `ksec etcd audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Fail (exit 1) when any object is stored under this key: a key name (aescbc,
    /// aesgcm, secretbox), a KMS provider name, or a KMS v2 key id. Repeatable.
    #[arg(long = "fail-on-key", value_name = "KEY")]
    pub fail_on_key: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: AuditFormat,
    /// Print only the summary, not one line per object.
    #[arg(long)]
    pub summary_only: bool,
}

/// Decrypt output formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecryptFormat {
    /// A YAML stream, one document per object.
    Yaml,
    /// A `v1` List.
    Json,
}

/// Arguments of `ksec etcd decrypt`.
#[derive(Args, Debug)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The cluster's EncryptionConfiguration (--encryption-provider-config). KMS
    /// providers are reached through their plugin socket, as kube-apiserver does.
    #[arg(long, value_name = "FILE")]
    pub encryption_config: PathBuf,
    /// Unwrap KMS provider NAME's data keys with a ksec key backend instead of its
    /// plugin: FILE is a backend configuration (`local: {key_file: …}`, `vault: …`,
    /// `aws_kms: …`, `pkcs11: …`), the same key `ksec kms serve` used. Repeatable.
    #[arg(long = "kms-backend", value_name = "NAME=FILE")]
    pub kms_backend: Vec<String>,
    /// Shorthand for --kms-backend with the local backend: NAME=KEY_FILE (the key file
    /// of `ksec kms serve --backend local`). Repeatable.
    #[arg(long = "kms-key-file", value_name = "NAME=FILE")]
    pub kms_key_file: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    pub output: DecryptFormat,
    /// Write to FILE (mode 0600, replaced atomically at the end) instead of standard output.
    #[arg(short = 'w', long = "output-file", value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

/// Runs `ksec etcd …`.
pub fn run(cmd: EtcdCommand) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cmd {
        EtcdCommand::Audit(a) => rt.block_on(audit(*a)),
        EtcdCommand::Decrypt(a) => rt.block_on(decrypt(*a)),
    }
}

/// The scope the flags describe.
fn scope(s: &SourceArgs) -> Scope {
    Scope {
        prefix: s.prefix.clone(),
        resources: s.resources.clone(),
        all_revisions: s.all_revisions,
        page_size: s.page_size,
    }
}

async fn open(s: &SourceArgs) -> Result<Source> {
    if let Some(path) = &s.snapshot {
        return Ok(Source::open(&Location::Snapshot(path.clone())).await?);
    }
    let timeout = ksec_text::parse_duration(&s.timeout)
        .with_context(|| format!("--timeout {}", s.timeout))?;
    let location = Location::Etcd {
        endpoints: s.endpoints.clone(),
        tls: TlsFiles {
            ca: s.cacert.clone(),
            cert: s.cert.clone(),
            key: s.key.clone(),
        },
        timeout,
    };
    Source::open(&location).await.map_err(|e| {
        anyhow::anyhow!(
            "{e} (check --endpoints, --cacert/--cert/--key, or read a snapshot with --snapshot)"
        )
    })
}

/// A progress bar per resource, only for large stores (and only on a terminal), and
/// the resources that could not be read, on stderr.
#[derive(Default)]
struct Progress(Option<indicatif::ProgressBar>);

impl ReadObserver for Progress {
    fn resource_started(&mut self, prefix: &str, keys: Option<u64>) {
        let pb = match keys {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        pb.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} {prefix} {pos}/{len} objects ({per_sec}) {elapsed}",
        ) {
            pb.set_style(style);
        }
        pb.set_prefix(prefix.to_string());
        if keys.is_some_and(|n| n < 5000) {
            pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        self.0 = Some(pb);
    }

    fn values_read(&mut self, values: u64) {
        if let Some(pb) = &self.0 {
            pb.inc(values);
        }
    }

    fn resource_failed(&mut self, prefix: &str, stage: ReadStage, error: &ksec_etcd::Error) {
        if stage == ReadStage::Start {
            eprintln!("error: {prefix}: {error}");
            return;
        }
        let say = || eprintln!("error: {prefix}: {error}; the rest of this resource was not read");
        match &self.0 {
            Some(pb) => pb.suspend(say),
            None => say(),
        }
    }

    fn resource_finished(&mut self, _prefix: &str) {
        if let Some(pb) = self.0.take() {
            pb.finish_and_clear();
        }
    }
}

async fn audit(a: AuditArgs) -> Result<ExitCode> {
    let source = match open(&a.source).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let what = source.to_string();
    let policy = Policy {
        retired_keys: a.fail_on_key.clone(),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let json = a.output == AuditFormat::Json;
    let rows = !a.summary_only;
    let mut first = true;
    let mut labels = KeyLabels::default();
    if json {
        write!(
            out,
            "{{\"source\":{},\"objects\":[",
            serde_json::Value::String(what.clone())
        )?;
    } else if rows {
        writeln!(
            out,
            "{:<10} {:<10} {:<44} {:>9}  ETCD KEY",
            "VERDICT", "STORAGE", "KEY", "REVISION"
        )?;
    }
    let report = ksec_etcd::audit::audit(
        &source,
        &scope(&a.source),
        &policy,
        &mut Progress::default(),
        |e, verdict| -> Result<()> {
            if !rows {
                return Ok(());
            }
            if json {
                if !first {
                    out.write_all(b",")?;
                }
                first = false;
                out.write_all(b"\n")?;
                serde_json::to_writer(&mut out, &e.to_json())?;
            } else {
                table_row(&mut out, &mut labels, e, verdict)?;
            }
            Ok(())
        },
    )
    .await?;
    if json {
        write!(out, "\n],\"summary\":{}}}\n", report.to_json())?;
    } else {
        print_summary(&mut out, &report.summary, &what, report.complete)?;
    }
    out.flush()?;
    Ok(match report.outcome() {
        Outcome::Passed => ExitCode::SUCCESS,
        Outcome::Failed => ExitCode::from(1),
        _ => ExitCode::from(2),
    })
}

fn table_row(
    out: &mut impl Write,
    labels: &mut KeyLabels,
    e: &AuditEntry,
    verdict: Verdict,
) -> std::io::Result<()> {
    let v = match verdict {
        Verdict::Encrypted => "ok",
        Verdict::Plaintext => "PLAINTEXT",
        Verdict::RetiredKey => "RETIRED",
        Verdict::Unreadable => "ERROR",
    };
    let history = if e.current { "" } else { "  (history)" };
    match &e.storage {
        Ok(s) => {
            let key = match labels.label(s) {
                "" => "-",
                key => key,
            };
            writeln!(
                out,
                "{v:<10} {:<10} {key:<44} {:>9}  {}{history}",
                s.kind(),
                e.revision,
                e.key
            )
        }
        Err(err) => writeln!(
            out,
            "{v:<10} {:<10} {:<44} {:>9}  {}{history}: {err}",
            "-", "-", e.revision, e.key
        ),
    }
}

fn print_summary(
    out: &mut impl Write,
    s: &Summary,
    what: &str,
    complete: bool,
) -> std::io::Result<()> {
    writeln!(
        out,
        "\n{} values read from {what}{}",
        s.values,
        if complete {
            ""
        } else {
            " (INCOMPLETE: see the errors above)"
        }
    )?;
    for ((kind, key), n) in &s.by_storage() {
        let key = if kind == "identity" {
            "(plaintext)"
        } else {
            key.as_str()
        };
        writeln!(out, "  {kind:<10} {key:<44} {n:>9}")?;
    }
    writeln!(
        out,
        "{} in plaintext, {} plaintext only in history, {} under a retired key, {} unreadable",
        s.plaintext, s.plaintext_in_history, s.retired, s.unreadable
    )
}

/// `NAME=FILE` pairs of --kms-backend / --kms-key-file.
fn name_file(flag: &str, v: &str) -> Result<(String, PathBuf)> {
    match v.split_once('=') {
        Some((n, f)) if !n.is_empty() && !f.is_empty() => Ok((n.to_string(), PathBuf::from(f))),
        _ => bail!("{flag} {v:?}: expected NAME=FILE, NAME being the KMS provider's name in the EncryptionConfiguration"),
    }
}

async fn decrypt(a: DecryptArgs) -> Result<ExitCode> {
    let name = a.encryption_config.display().to_string();
    let text =
        std::fs::read(&a.encryption_config).with_context(|| format!("cannot read {name}"))?;
    let config = EncryptionConfiguration::from_text(&text, &name)?;
    let mut backends = vec![];
    for (flag, v) in a
        .kms_backend
        .iter()
        .map(|v| ("--kms-backend", v))
        .chain(a.kms_key_file.iter().map(|v| ("--kms-key-file", v)))
    {
        let (provider, file) = name_file(flag, v)?;
        if let Err(ksec_etcd::Error::NoSuchKmsProvider { provider, known }) =
            config.kms_provider(&provider)
        {
            bail!("{flag} {v}: {name} has no KMS provider named {provider:?} (it has: {known})");
        }
        let cfg = if flag == "--kms-key-file" {
            ksec_keys::BackendConfig::Local(ksec_keys::local::LocalConfig {
                key_file: file,
                allow_insecure_permissions: false,
            })
        } else {
            ksec_keys::BackendConfig::from_file(&file)?
        };
        backends.push((provider, cfg.build().await?));
    }
    let mut decryptor = Decryptor::new(config);
    for (provider, backend) in backends {
        decryptor.use_key_backend(&provider, backend)?;
    }
    let source = open(&a.source).await?;
    let format = match a.output {
        DecryptFormat::Yaml => ManifestFormat::Yaml,
        DecryptFormat::Json => ManifestFormat::JsonList,
    };

    // Plaintext goes to a private (0600) temporary file that replaces the target only at
    // the end; on failure it is removed.
    let mut file = match &a.output_file {
        Some(p) if p.as_os_str() != "-" => Some(crate::io::AtomicFile::create(p, 0o600)?),
        _ => None,
    };
    let sink: &mut dyn Write = match &mut file {
        Some(f) => f,
        None => &mut std::io::stdout(),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, sink);
    let report = recover(
        &decryptor,
        &source,
        &scope(&a.source),
        format,
        &mut out,
        &mut Progress::default(),
        |dropped| match dropped {
            Dropped::NotWritten {
                key,
                kind: Some(kind),
            } => eprintln!(
                "note: {key}: a {kind} (only Secrets, ConfigMaps and JSON objects are written out)"
            ),
            Dropped::Failed {
                key,
                current,
                error,
            } => {
                let history = if current { "" } else { " (history)" };
                eprintln!("error: {key}{history}: {error}");
            }
            _ => {}
        },
    )
    .await?;
    out.flush()?;
    drop(out);
    if let Some(f) = file {
        f.commit()?;
    }
    let RecoveryReport {
        decrypted,
        failed,
        not_written,
        complete,
    } = report.clone();
    eprintln!(
        "{decrypted} objects decrypted from {source}{}{}{}",
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        },
        if not_written > 0 {
            format!(", {not_written} not written out")
        } else {
            String::new()
        },
        if complete {
            ""
        } else {
            " (INCOMPLETE: see the errors above)"
        }
    );
    Ok(if report.all_recovered() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
