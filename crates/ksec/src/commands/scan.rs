//! `ksec scan`: flags → `ksec_scan` → report and exit code (0 clean, 1 findings at or
//! above `--fail-on`, 2 inputs skipped or errors).
use crate::io;
use anyhow::Result;
use clap::{Args, ValueEnum};
use ksec_scan::{output, Baseline, Options, Scanner, Severity};
use std::path::PathBuf;
use std::process::ExitCode;

/// Report formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// Findings grouped by file.
    Table,
    /// `{"findings": […], "summary": {…}}`.
    Json,
    /// SARIF 2.1.0 (code scanning).
    Sarif,
}

/// Severity thresholds for `--fail-on`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Threshold {
    /// Any finding but informational ones.
    Low,
    /// Medium and high findings.
    Medium,
    /// High findings only.
    High,
}

/// Arguments of `ksec scan`.
#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Files and directories (Kustomize directories and Helm charts are rendered when
    /// `kubectl` / `helm` are found).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Report format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub format: Format,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long = "fail-on", value_enum, default_value = "high")]
    pub fail_on: Threshold,
    /// Suppress findings recorded in this baseline file.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write a baseline that accepts every finding of this run.
    #[arg(long = "write-baseline", value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Values file for `helm template` (repeatable).
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Also scan the git history of the paths' repositories (files committed and later deleted).
    #[arg(long)]
    pub git: bool,
    /// Recipients you retired (age recipients, PGP fingerprints, KMS key ids; comma-separated or repeated).
    #[arg(long = "retired-recipient", value_name = "ID")]
    pub retired: Vec<String>,
    /// Skip files larger than this many bytes.
    #[arg(long = "max-file-size", default_value_t = 8 * 1024 * 1024)]
    pub max_file_size: u64,
    /// The helm program (default: `helm` on PATH).
    #[arg(long, env = "KSEC_HELM", value_name = "PATH")]
    pub helm: Option<PathBuf>,
    /// The kubectl program for Kustomize (default: `kubectl` on PATH).
    #[arg(long, value_name = "PATH")]
    pub kubectl: Option<PathBuf>,
    /// Rego policies: a kubescape regolibrary folder (`rules/<name>/raw.rego`) or plain Rego files.
    #[arg(long = "policy", value_name = "DIR")]
    pub policy: Vec<PathBuf>,
    /// Scan the cluster of the current kubeconfig context.
    #[arg(long)]
    pub cluster: bool,
}

/// Runs `ksec scan`.
pub fn run(a: ScanArgs) -> Result<ExitCode> {
    match scan(a) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

fn scan(a: ScanArgs) -> Result<ExitCode> {
    let baseline = a.baseline.as_deref().map(Baseline::read).transpose()?;
    if a.cluster {
        anyhow::bail!("--cluster is not available in this build yet: scan manifests (kubectl get -o yaml) instead");
    }
    let opts = Options {
        max_file_size: a.max_file_size,
        helm_values: a.values,
        helm: a.helm,
        kubectl: a.kubectl,
        git_history: a.git,
        retired_recipients: a
            .retired
            .iter()
            .flat_map(|r| {
                ksec_text::split_list(r)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect(),
        baseline,
        ..Options::default()
    };
    let mut scanner = Scanner::new(opts);
    for p in &a.paths {
        scanner.scan_path(p);
    }
    #[cfg(feature = "rego")]
    for p in &a.policy {
        let policy = ksec_scan::policy::Policy::load(p)?;
        for path in &a.paths {
            scanner.add_findings(policy.evaluate_path(path)?);
        }
    }
    #[cfg(not(feature = "rego"))]
    if !a.policy.is_empty() {
        anyhow::bail!(
            "--policy needs ksec built with the `rego` feature (cargo build --features rego)"
        );
    }
    let report = scanner.finish();
    if let Some(path) = &a.write_baseline {
        io::write_atomic(path, Baseline::text_of(&report).as_bytes(), 0o644)?;
    }
    let text = match a.format {
        Format::Table => output::table(&report),
        Format::Json => output::json(&report),
        Format::Sarif => output::sarif(&report),
    };
    print!("{text}");
    let fail_on = match a.fail_on {
        Threshold::Low => Severity::Low,
        Threshold::Medium => Severity::Medium,
        Threshold::High => Severity::High,
    };
    Ok(ExitCode::from(report.exit_code(fail_on)))
}
