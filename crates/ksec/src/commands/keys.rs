//! `ksec keys`: make, show and list sealing keys in the controller's formats; back them
//! up encrypted with age, and restore them.
use crate::cluster::{backup_hint, block_on, restore_hint};
use crate::io;
use crate::keyfiles::{self, load_keys};
use crate::kube_args::KubeArgs;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use ksec_seal::backup::{self, Recipients, RestoreAction};
use ksec_seal::keys::{self, SealingKey};
use ksec_seal::render::{self, Format};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// `ksec keys …`
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Generate a sealing key pair with a self-signed certificate shaped like the controller's.
    New(NewArgs),
    /// Print the certificate of keys (to hand to `ksec seal --cert` / `kubeseal --cert`).
    Cert(CertArgs),
    /// List keys: fingerprint, size and validity.
    List(Box<ListArgs>),
    /// Back up the sealing keys (from the cluster, or from files) into one file encrypted
    /// with age, which can live in git or object storage.
    Backup(Box<BackupArgs>),
    /// Restore sealing keys from a backup onto the cluster; an existing key is never
    /// overwritten.
    Restore(Box<RestoreArgs>),
}

/// Arguments of `ksec keys new`.
#[derive(Args, Debug)]
pub struct NewArgs {
    /// RSA key size in bits.
    #[arg(long, default_value_t = 4096)]
    pub bits: usize,
    /// Certificate common name (the controller's --my-cn; empty by default, as Bitnami's).
    #[arg(long, default_value = keys::DEFAULT_CN)]
    pub cn: String,
    /// Certificate validity: a Go duration (87600h = 10 years, the controller's --key-ttl;
    /// 1h30m) or days (3650d). A unit is required.
    #[arg(long, default_value = "87600h", value_parser = ksec_text::parse_duration)]
    pub ttl: Duration,
    /// Namespace of the key Secret.
    #[arg(short = 'n', long, default_value = "kube-system")]
    pub namespace: String,
    /// Name of the key Secret (default: sealed-secrets-key + 5 random characters).
    #[arg(long)]
    pub name: Option<String>,
    /// Output format of the key Secret.
    #[arg(short = 'o', long, default_value = "yaml")]
    pub format: String,
    /// Write the key Secret here (mode 0600) instead of standard output.
    #[arg(
        short = 'w',
        long = "output",
        value_name = "FILE",
        conflicts_with = "pem_dir"
    )]
    pub output: Option<PathBuf>,
    /// Write PEM files instead: DIR/tls.key (0600) and DIR/tls.crt.
    #[arg(long = "pem-dir", value_name = "DIR")]
    pub pem_dir: Option<PathBuf>,
}

/// Arguments of `ksec keys cert`.
#[derive(Args, Debug)]
pub struct CertArgs {
    /// Key files (PEM with certificate, key Secrets, Lists, encrypted backups).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Identity to open encrypted backups with: an age identity file or an SSH private key.
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identities: Vec<PathBuf>,
}

/// Arguments of `ksec keys list`.
#[derive(Args, Debug)]
#[command(mut_group("KubeArgs", |g| g.conflicts_with("files")))]
pub struct ListArgs {
    /// Key files (PEM, key Secrets, Lists, encrypted backups); without any, the key
    /// Secrets of the cluster.
    pub files: Vec<PathBuf>,
    /// Identity to open encrypted backups with: an age identity file or an SSH private key.
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identities: Vec<PathBuf>,
    /// Without files: list the key Secrets of this namespace only (default: every
    /// namespace).
    #[arg(short = 'n', long, value_name = "NS", conflicts_with = "files")]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub cluster: KubeArgs,
}

/// Arguments of `ksec keys backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Encrypt to this recipient: an age public key (age1…) or an SSH public key
    /// ("ssh-ed25519 AAAA…", "ssh-rsa AAAA…"). Repeat for several; any one of their
    /// private keys restores the backup.
    #[arg(long = "age", value_name = "RECIPIENT", required = true)]
    pub recipients: Vec<String>,
    /// Back up the key Secrets in these files (key Secrets, Lists such as
    /// `kubectl get secret -o yaml` output) instead of reading the cluster.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write the backup here (atomically, mode 0600) instead of standard output.
    #[arg(short = 'w', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read the key Secrets of this namespace only (default: every namespace).
    #[arg(short = 'n', long, value_name = "NS", conflicts_with = "files")]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub cluster: KubeArgs,
}

/// Arguments of `ksec keys restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup (`ksec keys backup`), or a plain manifest of key Secrets.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Identity that opens the backup: an age identity file or an SSH private key.
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identities: Vec<PathBuf>,
    /// Create every key Secret in this namespace instead of the ones recorded in the backup.
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Only list what would be restored (namespace, name, fingerprint, validity) and
    /// what the cluster already has; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Restore the keys the cluster lacks and leave out those it already has (without
    /// it, a key already there is an error and nothing is written).
    #[arg(long)]
    pub skip_existing: bool,
    #[command(flatten)]
    pub cluster: KubeArgs,
}

/// Runs `ksec keys …`.
pub fn run(cmd: KeysCommand) -> Result<ExitCode> {
    match cmd {
        KeysCommand::New(a) => new(a),
        KeysCommand::Cert(a) => cert(a),
        KeysCommand::List(a) => list(*a),
        KeysCommand::Backup(a) => backup(*a),
        KeysCommand::Restore(a) => restore(*a),
    }
}

fn new(a: NewArgs) -> Result<ExitCode> {
    let key = SealingKey::generate(a.bits, &a.cn, SystemTime::now(), a.ttl)?;
    if let Some(dir) = a.pem_dir {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let pem = key.key.to_pkcs1_pem()?;
        io::write_atomic(&dir.join("tls.key"), pem.as_bytes(), 0o600)?;
        let cert = key.cert.as_ref().context("no certificate")?;
        io::write_atomic(&dir.join("tls.crt"), cert.to_pem().as_bytes(), 0o644)?;
        eprintln!(
            "wrote {0}/tls.key and {0}/tls.crt ({1})",
            dir.display(),
            key.public_key().ssh_fingerprint()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let name = a
        .name
        .unwrap_or_else(|| keys::new_key_name(keys::KEY_PREFIX));
    let format: Format = a.format.parse()?;
    let value = key.to_secret_value(&name, &a.namespace)?;
    let text = zeroize::Zeroizing::new(render::document(&value, format));
    io::emit(a.output.as_deref(), text.as_bytes(), 0o600)?;
    Ok(ExitCode::SUCCESS)
}

fn cert(a: CertArgs) -> Result<ExitCode> {
    let keys = load_keys(&a.files, &a.identities)?;
    let mut out = String::new();
    for k in &keys {
        match &k.cert {
            Some(c) => out.push_str(&c.to_pem()),
            None => bail!(
                "{}: holds a private key without its certificate; give the key Secret (tls.crt) or a PEM file with the CERTIFICATE next to the key",
                k.source
            ),
        }
    }
    io::emit(None, out.as_bytes(), 0o644)?;
    Ok(ExitCode::SUCCESS)
}

/// The key Secrets of the cluster (of `namespace`, or of every namespace).
fn cluster_keys(cluster: &KubeArgs, namespace: Option<&str>) -> Result<backup::Backup> {
    block_on(async {
        ksec_seal::cluster::read_key_secrets(&cluster.options(None), namespace)
            .await
            .map_err(|e| backup_hint(e, namespace))
    })
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let keys = if a.files.is_empty() {
        cluster_keys(&a.cluster, a.namespace.as_deref())?.sealing_keys()
    } else {
        load_keys(&a.files, &a.identities)?
    };
    let now = SystemTime::now();
    println!(
        "{:<52} {:>5}  {:<10}  {:<10}  SOURCE",
        "FINGERPRINT", "BITS", "NOT BEFORE", "NOT AFTER"
    );
    for k in &keys {
        let (nb, na, state) = match &k.cert {
            Some(c) => (
                keys::utc_date(c.not_before),
                keys::utc_date(c.not_after),
                if c.is_expired_at(now) {
                    " (expired)"
                } else {
                    ""
                },
            ),
            None => ("-".into(), "-".into(), ""),
        };
        println!(
            "{:<52} {:>5}  {:<10}  {:<10}  {}{state}",
            k.public_key().ssh_fingerprint(),
            k.public_key().bits(),
            nb,
            na,
            k.source
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn backup(a: BackupArgs) -> Result<ExitCode> {
    let recipients = Recipients::parse(a.recipients.iter().map(String::as_str))
        .map_err(|e| anyhow!("--age: {e}"))?;
    let backup = if a.files.is_empty() {
        cluster_keys(&a.cluster, a.namespace.as_deref())?
    } else {
        ksec_seal::backup_from_files(&a.files).map_err(|e| match e {
            ksec_seal::Error::AlreadyEncrypted { .. } => anyhow!("{e}; -f takes key Secrets (kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml)"),
            e => e.into(),
        })?
    };
    let text = backup.encrypt(&recipients)?;
    io::emit(a.output.as_deref(), text.as_bytes(), 0o600)?;
    let target = a
        .output
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "standard output".into());
    eprintln!(
        "backed up {} key(s) to {target}, encrypted to {} recipient(s):",
        backup.keys().len(),
        recipients.len()
    );
    for k in backup.keys() {
        eprintln!("  {}/{} {}", k.namespace(), k.name(), k.fingerprint());
    }
    Ok(ExitCode::SUCCESS)
}

fn restore(a: RestoreArgs) -> Result<ExitCode> {
    let backup = keyfiles::open_backup(&a.file, &a.identities)?;
    let namespace = a.namespace.as_deref();
    let existing = block_on(async {
        ksec_seal::cluster::existing_key_secrets(&a.cluster.options(None), &backup, namespace)
            .await
            .map_err(restore_hint)
    })?;
    let plan = backup::plan_restore(&backup, a.namespace.as_deref(), &existing);
    let now = SystemTime::now();
    if a.dry_run {
        println!(
            "{:<20} {:<32} {:<52} {:<10}  {:<10}  ACTION",
            "NAMESPACE", "NAME", "FINGERPRINT", "NOT BEFORE", "NOT AFTER"
        );
    }
    let mut blocked = vec![];
    for item in &plan {
        let (nb, na) = match item.key.validity() {
            Some((nb, na)) => (keys::utc_date(nb), keys::utc_date(na)),
            None => ("-".into(), "-".into()),
        };
        let expired = item.key.is_expired_at(now);
        let action = match &item.action {
            RestoreAction::Create => "create".to_string(),
            RestoreAction::AlreadyThere { secret } if a.skip_existing => {
                format!("skip (already in {secret})")
            }
            RestoreAction::AlreadyThere { secret } => {
                blocked.push(format!(
                    "{}/{}: the cluster already has this key, in Secret {secret}",
                    item.namespace,
                    item.key.name()
                ));
                format!("refused (already in {secret})")
            }
            RestoreAction::NameTaken => {
                blocked.push(format!(
                    "{}/{}: a Secret of that name exists and holds another key; it is never overwritten",
                    item.namespace,
                    item.key.name()
                ));
                "refused (name taken by another Secret)".to_string()
            }
            _ => "refused".to_string(),
        };
        if a.dry_run {
            println!(
                "{:<20} {:<32} {:<52} {:<10}  {:<10}  {action}{}",
                item.namespace,
                item.key.name(),
                item.key.fingerprint(),
                nb,
                na,
                if expired {
                    " (certificate expired)"
                } else {
                    ""
                }
            );
        }
    }
    if !blocked.is_empty() {
        let hint = if plan
            .iter()
            .all(|i| !matches!(i.action, RestoreAction::NameTaken))
        {
            "; pass --skip-existing to restore only the keys the cluster lacks"
        } else {
            "; delete or rename that Secret first if it is not needed, or restore into another namespace with -n"
        };
        bail!("nothing was restored: {}{hint}", blocked.join("; "));
    }
    if a.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    let created = block_on(async {
        ksec_seal::cluster::create_key_secrets(&a.cluster.options(None), &plan)
            .await
            .map_err(restore_hint)
    })?;
    for c in &created {
        eprintln!("created Secret {c}");
    }
    if created.is_empty() {
        eprintln!("nothing to restore: the cluster has every key of the backup");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ksec_text::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("87600h").unwrap(),
            Duration::from_secs(87_600 * 3600)
        );
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert!(parse_duration("10y").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn durations_are_gos_syntax_plus_days() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("1.5d").unwrap(),
            Duration::from_secs(36 * 3600)
        );
        // Bare numbers were seconds once; Go's grammar wants a unit.
        let e = parse_duration("3600").unwrap_err().to_string();
        assert!(e.contains("unit is missing"), "{e}");
        assert!(parse_duration("-1h").is_err());
    }
}
