//! Findings and the report that carries them.
//!
//! A finding says where a risk is (file, line, object, field path) and what it is; it
//! never carries the value it found, nor a hash of it. Its fingerprint is a hash of the
//! rule and the location only, so a baseline or a SARIF file confirms nothing about a
//! guessed password.
use serde::{Deserialize, Serialize};
use std::fmt;

/// How serious a finding is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; not a risk by itself.
    #[default]
    Info,
    /// A hardening gap.
    Low,
    /// Probably a credential, or access that reaches Secrets.
    Medium,
    /// A credential recognised by its format, or broad access to Secret values.
    High,
}

impl Severity {
    /// `info`, `low`, `medium`, `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    /// Parses `info|low|medium|high`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One risk found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Rule id (`KSEC-…`, or `REGO-<rule>` for policies).
    pub rule: String,
    /// kubescape control ids.
    pub controls: Vec<String>,
    /// Severity.
    pub severity: Severity,
    /// The rule's title.
    pub title: String,
    /// The file (for git history `path@commit`; for an object read from a cluster,
    /// `Kind/namespace/name`).
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// The object's kind (for RBAC findings, the subject's kind).
    pub kind: String,
    /// The object's namespace, when it has one.
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
    /// The field, as kubescape writes paths (`spec.containers[0].env[1].value`).
    pub path: String,
    /// What was found and why it matters. Never the value.
    pub message: String,
    /// Hash of rule and location; stable across runs and value changes.
    pub fingerprint: String,
    /// Other objects involved (`ClusterRoleBinding/readers`), when any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
}

/// The fingerprint of a finding: SHA-256 over the rule and the location (file, object,
/// field path), never over the value, truncated to 128 bits of hex.
pub fn fingerprint(
    rule: &str,
    file: &str,
    kind: &str,
    namespace: &str,
    name: &str,
    path: &str,
) -> String {
    let mut text = String::new();
    for part in [rule, file, kind, namespace, name, path] {
        text.push_str(part);
        text.push('\0');
    }
    let digest = ksec_crypto::hash::sha256(text.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// An input that was not scanned, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The file, directory, chart or repository.
    pub file: String,
    /// Why (a parse error with its line, "binary file", "symlink loop", …).
    pub reason: String,
}

/// How [`Skipped::reason`] starts for a list the credentials may not read (a cluster
/// scan's 403).
pub(crate) const FORBIDDEN: &str = "forbidden";

/// How [`Skipped::reason`] starts for a policy given more objects than it evaluates at
/// once (`EvalLimits`, feature `rego`).
pub(crate) const TOO_MANY_OBJECTS: &str = "too many objects";

impl Skipped {
    /// True if this was skipped because the credentials may not read it (a cluster
    /// list the API server answered with 403).
    pub fn is_forbidden(&self) -> bool {
        self.reason.starts_with(FORBIDDEN)
    }

    /// True if this is a Rego policy that met more objects than it evaluates at once
    /// (feature `rego`): evaluate a part at a time (one namespace of a cluster).
    pub fn is_too_many_objects(&self) -> bool {
        self.reason.starts_with(TOO_MANY_OBJECTS)
    }
}

/// Counts of a report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Files read.
    pub files: usize,
    /// Kubernetes objects checked.
    pub objects: usize,
    /// Findings by severity.
    pub high: usize,
    /// Medium findings.
    pub medium: usize,
    /// Low findings.
    pub low: usize,
    /// Informational findings.
    pub info: usize,
    /// Findings suppressed by the baseline.
    pub baselined: usize,
    /// Findings suppressed by `ksec.dev/scan-ignore` annotations.
    pub ignored: usize,
    /// Inputs skipped.
    pub skipped: usize,
}

/// The result of a scan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Findings, sorted by file, line, rule.
    pub findings: Vec<Finding>,
    /// Inputs that could not be scanned.
    pub skipped: Vec<Skipped>,
    /// Notes that are not findings (a Kustomize directory read file by file, …).
    pub notes: Vec<String>,
    /// Counts.
    pub summary: Summary,
}

impl Report {
    /// Sorts findings, keeps the most severe of those at one place (an inline key that is
    /// also malformed is the inline key), and fills the summary's severity counts.
    pub fn finish(&mut self) {
        self.findings.sort_by(|a, b| {
            (&a.file, a.line, a.column, &a.rule, &a.path, b.severity)
                .cmp(&(&b.file, b.line, b.column, &b.rule, &b.path, a.severity))
        });
        self.findings
            .dedup_by(|a, b| a.fingerprint == b.fingerprint);
        let s = &mut self.summary;
        (s.high, s.medium, s.low, s.info) = (0, 0, 0, 0);
        for f in &self.findings {
            match f.severity {
                Severity::High => s.high += 1,
                Severity::Medium => s.medium += 1,
                Severity::Low => s.low += 1,
                Severity::Info => s.info += 1,
            }
        }
        s.skipped = self.skipped.len();
    }

    /// The exit status a CLI should use: 2 when inputs were skipped, 1 when a finding
    /// is at or above `fail_on`, 0 otherwise.
    pub fn exit_code(&self, fail_on: Severity) -> u8 {
        if !self.skipped.is_empty() {
            2
        } else if self.findings.iter().any(|f| f.severity >= fail_on) {
            1
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_depends_on_location_only() {
        let a = fingerprint("R", "f.yaml", "Secret", "ns", "db", "data.password");
        assert_eq!(a.len(), 32);
        assert_eq!(
            a,
            fingerprint("R", "f.yaml", "Secret", "ns", "db", "data.password")
        );
        assert_ne!(
            a,
            fingerprint("R", "f.yaml", "Secret", "ns", "db", "data.user")
        );
        // Field boundaries count: ("ab", "c") and ("a", "bc") differ.
        assert_ne!(
            fingerprint("R", "ab", "c", "", "", ""),
            fingerprint("R", "a", "bc", "", "", "")
        );
    }

    #[test]
    fn severity_order_and_parse() {
        assert!(Severity::High > Severity::Medium && Severity::Low > Severity::Info);
        assert_eq!(Severity::parse("MEDIUM"), Some(Severity::Medium));
        assert_eq!(Severity::parse("critical"), None);
    }
}
