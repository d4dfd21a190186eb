//! `ksec keys`: make, show and list sealing keys in the controller's formats.
use super::seal::load_keys;
use crate::io;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
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
    List(ListArgs),
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
    #[arg(long, default_value = "87600h", value_parser = parse_duration)]
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
    /// Key files (PEM with certificate, key Secrets, Lists).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Arguments of `ksec keys list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Key files (PEM, key Secrets, Lists).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Parses `87600h`, `30d`, `90m`, `1h30m`: Go's duration syntax plus `d` for days
/// (`ksec_text::parse_duration`, the one parser of the workspace).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    ksec_text::parse_duration(s).map_err(|e| e.to_string())
}

/// Runs `ksec keys …`.
pub fn run(cmd: KeysCommand) -> Result<ExitCode> {
    match cmd {
        KeysCommand::New(a) => new(a),
        KeysCommand::Cert(a) => cert(a),
        KeysCommand::List(a) => list(a),
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
    let keys = load_keys(&a.files)?;
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

fn list(a: ListArgs) -> Result<ExitCode> {
    let keys = load_keys(&a.files)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = parse_duration("3600").unwrap_err();
        assert!(e.contains("unit is missing"), "{e}");
        assert!(parse_duration("-1h").is_err());
    }
}
