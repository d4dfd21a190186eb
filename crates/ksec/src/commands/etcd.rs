//! `ksec etcd audit|decrypt`: prove how every stored object is protected, and recover
//! the objects, from a live etcd or from a snapshot file. Read-only: ksec never writes
//! to etcd.
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use ksec_etcd::audit::{AuditEntry, Policy, Summary, Verdict};
use ksec_etcd::decrypt::Decryptor;
use ksec_etcd::encryption_config::EncryptionConfiguration;
use ksec_etcd::etcd::{EtcdClient, TlsFiles};
use ksec_etcd::object::{self, Object};
use ksec_etcd::snapshot::Snapshot;
use ksec_etcd::source::Source;
use ksec_etcd::Record;
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
    /// Resources to read (repeatable): `secrets`, `configmaps`, or RESOURCE.GROUP for
    /// custom resources (stored under PREFIX/GROUP/RESOURCE/).
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

/// The etcd key prefix of a resource: PREFIX/RESOURCE/, or PREFIX/GROUP/RESOURCE/.
fn resource_prefix(prefix: &str, resource: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    match resource.split_once('.') {
        Some((r, g)) => format!("{prefix}/{g}/{r}/"),
        None => format!("{prefix}/{resource}/"),
    }
}

async fn open(s: &SourceArgs) -> Result<(Source, String)> {
    if let Some(path) = &s.snapshot {
        let snap = Snapshot::open(path)?;
        let what = format!(
            "snapshot {}{}",
            path.display(),
            if snap.hash_checked() {
                " (SHA-256 checked)"
            } else {
                " (no SHA-256 trailer)"
            }
        );
        return Ok((Source::Snapshot(snap), what));
    }
    let timeout = ksec_text::parse_duration(&s.timeout)
        .with_context(|| format!("--timeout {}", s.timeout))?;
    let tls = TlsFiles {
        ca: s.cacert.clone(),
        cert: s.cert.clone(),
        key: s.key.clone(),
    };
    let client = EtcdClient::connect(&s.endpoints, &tls, timeout)
        .await
        .map_err(|e| anyhow::anyhow!("{e} (check --endpoints, --cacert/--cert/--key, or read a snapshot with --snapshot)"))?;
    let what = format!("etcd {}", client.endpoint());
    Ok((Source::Etcd(client), what))
}

fn progress(len: Option<u64>) -> indicatif::ProgressBar {
    let pb = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} {prefix} {pos}/{len} objects ({per_sec}) {elapsed}",
    ) {
        pb.set_style(style);
    }
    pb
}

/// Reads every value under each resource's prefix and hands it to `each`. A source
/// failure is reported and the other resources still run; returns false if any failed.
async fn for_each_record(
    source: &Source,
    s: &SourceArgs,
    mut each: impl AsyncFnMut(&str, Record) -> Result<()>,
) -> Result<bool> {
    let mut complete = true;
    for resource in &s.resources {
        let prefix = resource_prefix(&s.prefix, resource);
        // A progress bar only for large stores (and only on a terminal).
        let count = if s.all_revisions {
            None
        } else {
            source.count(prefix.as_bytes()).await
        };
        let pb = progress(count);
        pb.set_prefix(prefix.clone());
        if count.is_some_and(|n| n < 5000) {
            pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let mut scan = match source
            .scan(prefix.as_bytes(), s.all_revisions, s.page_size)
            .await
        {
            Ok(scan) => scan,
            Err(e) => {
                eprintln!("error: {prefix}: {e}");
                complete = false;
                continue;
            }
        };
        loop {
            match scan.next_batch().await {
                Ok(Some(batch)) => {
                    let n = batch.len() as u64;
                    for r in batch {
                        each(resource, r).await?;
                    }
                    pb.inc(n);
                }
                Ok(None) => break,
                Err(e) => {
                    pb.suspend(|| {
                        eprintln!("error: {prefix}: {e}; the rest of this resource was not read")
                    });
                    complete = false;
                    break;
                }
            }
        }
        pb.finish_and_clear();
    }
    Ok(complete)
}

async fn audit(a: AuditArgs) -> Result<ExitCode> {
    let (source, what) = match open(&a.source).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let policy = Policy {
        retired_keys: a.fail_on_key.clone(),
    };
    let mut summary = Summary::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let json = a.output == AuditFormat::Json;
    let rows = !a.summary_only;
    let mut first = true;
    let mut labels = LabelCache::default();
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
    let complete = for_each_record(&source, &a.source, async |_, r| {
        let e = AuditEntry::of(&r);
        let verdict = summary.add(&e, &policy);
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
            table_row(&mut out, &mut labels, &e, verdict)?;
        }
        Ok(())
    })
    .await?;
    if json {
        let mut s = summary.to_json();
        s["complete"] = complete.into();
        write!(out, "\n],\"summary\":{s}}}\n")?;
    } else {
        print_summary(&mut out, &summary, &what, complete)?;
    }
    out.flush()?;
    Ok(if !complete || summary.unreadable > 0 {
        ExitCode::from(2)
    } else if summary.gate_failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The KEY column of the last storage seen: neighbouring objects mostly share it, and
/// building it is the costliest part of a row.
#[derive(Default)]
struct LabelCache(Option<(ksec_etcd::storage::Storage, String)>);

impl LabelCache {
    fn label(&mut self, s: &ksec_etcd::storage::Storage) -> &str {
        if self.0.as_ref().is_none_or(|(cached, _)| cached != s) {
            let key = s.key_label();
            self.0 = Some((s.clone(), if key.is_empty() { "-".into() } else { key }));
        }
        self.0.as_ref().map(|(_, l)| l.as_str()).unwrap_or("-")
    }
}

fn table_row(
    out: &mut impl Write,
    labels: &mut LabelCache,
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
            let key = labels.label(s);
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
    let known: Vec<String> = config.kms_providers().map(|k| k.name.clone()).collect();
    let mut backends = vec![];
    for (flag, v) in a
        .kms_backend
        .iter()
        .map(|v| ("--kms-backend", v))
        .chain(a.kms_key_file.iter().map(|v| ("--kms-key-file", v)))
    {
        let (provider, file) = name_file(flag, v)?;
        if !known.contains(&provider) {
            bail!(
                "{flag} {v}: {name} has no KMS provider named {provider:?} (it has: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
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
    let (source, what) = open(&a.source).await?;
    let yaml = a.output == DecryptFormat::Yaml;

    // Plaintext goes to a private temporary file that replaces the target only at the
    // end; on failure it is removed.
    let mut tmp = None;
    let sink: Box<dyn Write> = match &a.output_file {
        Some(p) if p.as_os_str() != "-" => {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let f = tempfile::Builder::new()
                .prefix(".ksec-decrypt-")
                .tempfile_in(dir)
                .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
            let w = f.reopen()?;
            tmp = Some(f);
            Box::new(w)
        }
        _ => Box::new(std::io::stdout()),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, sink);
    let (mut ok, mut failed, mut skipped) = (0u64, 0u64, 0u64);
    if !yaml {
        out.write_all(b"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[")?;
    }
    let complete = for_each_record(&source, &a.source, async |resource, r| {
        let key = String::from_utf8_lossy(&r.key).into_owned();
        let history = if r.current { "" } else { " (history)" };
        let result = match decryptor.decrypt(resource, &r.key, &r.value).await {
            Ok(d) => object::decode(d.plaintext.expose()).map(|o| (o, d.storage)),
            Err(e) => Err(e),
        };
        match result {
            Ok((obj, storage)) => match obj.manifest(yaml) {
                Some(m) => {
                    if yaml {
                        writeln!(out, "---\n# {key} revision {}{history}: {storage}", r.mod_revision)?;
                    } else if ok > 0 {
                        out.write_all(b",\n")?;
                    } else {
                        out.write_all(b"\n")?;
                    }
                    out.write_all(m.as_bytes())?;
                    ok += 1;
                }
                None => {
                    if let Object::Other { kind, .. } = &obj {
                        eprintln!("note: {key}: a {kind} (only Secrets, ConfigMaps and JSON objects are written out)");
                    }
                    skipped += 1;
                }
            },
            Err(e) => {
                eprintln!("error: {key}{history}: {e}");
                failed += 1;
            }
        }
        Ok(())
    })
    .await?;
    if !yaml {
        out.write_all(b"\n]}\n")?;
    }
    out.flush()?;
    drop(out);
    if let (Some(f), Some(p)) = (tmp, &a.output_file) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o600))?;
        f.persist(p)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    eprintln!(
        "{ok} objects decrypted from {what}{}{}{}",
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        },
        if skipped > 0 {
            format!(", {skipped} not written out")
        } else {
            String::new()
        },
        if complete {
            ""
        } else {
            " (INCOMPLETE: see the errors above)"
        }
    );
    Ok(if failed > 0 || !complete {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_prefixes() {
        assert_eq!(
            resource_prefix("/registry", "secrets"),
            "/registry/secrets/"
        );
        assert_eq!(
            resource_prefix("/registry/", "widgets.example.com"),
            "/registry/example.com/widgets/"
        );
    }
}
