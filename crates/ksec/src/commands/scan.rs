//! `ksec scan`: flags → `ksec_scan` → report and exit code (0 clean, 1 findings at or
//! above `--fail-on`, 2 inputs skipped or errors).
use crate::io;
use crate::kube_args::KubeArgs;
use anyhow::Result;
use clap::{Args, ValueEnum};
use ksec_scan::{output, Baseline, Options, Scanner, Severity, Skipped};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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

/// Arguments of `ksec scan`. The cluster flags work with --cluster only, and the
/// kubeconfig's cluster entry is `--kube-cluster` (`--cluster` turns the cluster scan on).
#[derive(Args, Debug)]
#[command(
    mut_group("KubeArgs", |g| g.requires("cluster")),
    mut_arg("kube_cluster", |a| a.long("kube-cluster")),
)]
pub struct ScanArgs {
    /// Files and directories (Kustomize directories and Helm charts are rendered when
    /// `kubectl` / `helm` are found). Default: `.`, unless --cluster is given.
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
    /// Rego policies: a kubescape regolibrary folder (`rules/<name>/raw.rego`) or plain Rego
    /// files, evaluated on the paths and, with --cluster, on the objects read from the cluster.
    #[arg(long = "policy", value_name = "DIR")]
    pub policy: Vec<PathBuf>,
    /// Time limit for each run of helm, kubectl and git (Go duration: 90s, 5m); a run
    /// that takes longer is killed and its input reported as skipped.
    #[arg(long = "tool-timeout", value_name = "DURATION", default_value = "5m", value_parser = parse_timeout)]
    pub tool_timeout: Duration,
    /// Scan a live cluster through the kubeconfig: workloads, service accounts, RBAC,
    /// ConfigMaps, Secret metadata (never Secret data) and kube-apiserver's settings, in
    /// every namespace unless -n is given.
    #[arg(long)]
    pub cluster: bool,
    /// With --cluster: how to reach it (kubeconfig, context, kubectl's overrides).
    #[command(flatten)]
    pub kube: KubeArgs,
    /// With --cluster: read namespaced objects from this namespace only (cluster-wide RBAC
    /// and kube-apiserver are read too). The context's namespace is not applied: a cluster
    /// scan covers every namespace unless told otherwise.
    #[arg(
        short = 'n',
        long,
        value_name = "NAMESPACE",
        requires = "cluster",
        conflicts_with = "all_namespaces"
    )]
    pub namespace: Option<String>,
    /// With --cluster: every namespace (the default, as for kubectl -A).
    #[arg(short = 'A', long = "all-namespaces", requires = "cluster")]
    pub all_namespaces: bool,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    match ksec_text::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be longer than zero".into()),
        Err(e) => Err(e.to_string()),
    }
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
    let paths = if a.paths.is_empty() && !a.cluster {
        vec![PathBuf::from(".")]
    } else {
        a.paths.clone()
    };
    let opts = Options {
        max_file_size: a.max_file_size,
        helm_values: a.values.clone(),
        helm: a.helm.clone(),
        kubectl: a.kubectl.clone(),
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
        tool_timeout: a.tool_timeout,
        ..Options::default()
    };
    let mut scanner = Scanner::new(opts);
    #[cfg(feature = "rego")]
    let policies = a
        .policy
        .iter()
        .map(|p| ksec_scan::policy::Policy::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    #[cfg(feature = "rego")]
    if a.cluster {
        policies.iter().for_each(|p| scanner.add_policy(p.clone()));
    }
    for p in &paths {
        scanner.scan_path(p);
    }
    if a.cluster {
        scan_cluster(&mut scanner, &a)?;
    }
    #[cfg(feature = "rego")]
    for policy in &policies {
        for path in &paths {
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
    if a.cluster && report.skipped.iter().any(Skipped::is_forbidden) {
        let hint = if a.namespace.is_none() {
            "some lists were forbidden to these credentials; -n NAMESPACE scans the namespaces they may read"
        } else {
            "some lists were forbidden to these credentials; use a context allowed to list them"
        };
        eprintln!("note: {hint}");
    }
    if a.cluster && report.skipped.iter().any(Skipped::is_too_many_objects) {
        eprintln!("note: a --policy met more cluster objects than it evaluates at once; -n NAMESPACE evaluates one namespace at a time");
    }
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

/// Reads the cluster of the kubeconfig into the scanner.
fn scan_cluster(scanner: &mut Scanner, a: &ScanArgs) -> Result<()> {
    let kube = a.kube.options(None);
    let options = ksec_scan::cluster::ClusterOptions {
        namespace: a.namespace.clone(),
        ..Default::default()
    };
    crate::cluster::block_on(async { Ok(scanner.scan_kubeconfig(&kube, &options).await?) })
}
