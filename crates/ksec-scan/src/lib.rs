//! `ksec-scan`: finds what exposes Kubernetes Secrets, in manifests, Kustomize
//! directories, Helm charts, git history and clusters.
//!
//! **What it models.** kubescape's secret-related controls (C-0012, C-0015, C-0034,
//! C-0066, C-0141, C-0142, C-0161, C-0186, C-0190, C-0207, C-0255, C-0259, C-0267), with
//! the same field paths, plus what those scanners get wrong or miss: plaintext `kind:
//! Secret` manifests, credentials recognised by format (private keys; AWS, Google,
//! Azure, GitHub (checksum verified), GitLab, Slack, Stripe tokens; JWTs; URLs with
//! passwords) on values and on their base64 decoding, credential names judged by their
//! last word, RBAC that honours `resourceNames`, indirect paths to Secret values, audit
//! policies judged first-match as the apiserver applies them, SOPS files and
//! SealedSecrets understood rather than flagged (through `ksec-sops` and `ksec-seal`).
//! See [`rules::ALL`] for the catalogue.
//!
//! **What it is compatible with.** kubescape control ids and paths; SARIF 2.1.0 for code
//! scanning; `helm template` and `kubectl kustomize` for rendering (each run under a time
//! limit, its error text summarised without the values it quotes); with the `cluster`
//! feature, a live cluster through the kubeconfig ([`cluster`]: Secrets read as metadata
//! only; `Scanner::scan_kubeconfig` resolves the kubeconfig and context and scans, and
//! [`Skipped::is_forbidden`] marks the lists the credentials may not read); with the
//! `rego` feature, kubescape's Rego rules (`policy`) on files and cluster objects alike.
//!
//! **How it is tested.** Unit tests per rule and parser; kubescape's own regolibrary
//! test cases for the implemented controls (the crate README lists every deliberate
//! difference by case name); checkov and detect-secrets on the same corpus; every output
//! format searched for every secret value of the corpus; SARIF read back by
//! `sarif-tools`; fuzz targets for the parsers; cluster scans against the testkit's HTTPS
//! API server (not a real kube-apiserver), here through a kubeconfig and in the `ksec`
//! binary's tests, proving from its request log that no Secret data was requested, and
//! that kubescape's Rego rules find on the served objects what they find in a file.
//!
//! **Security.** Findings never carry the value they found nor a hash of it:
//! fingerprints hash the rule and the location. Parsers are bounded (nesting depth,
//! alias expansion, file size), and binary files and symlink loops are reported and
//! skipped.
//!
//! ```
//! use ksec_scan::{Scanner, Options, Severity};
//!
//! let mut scanner = Scanner::new(Options::default());
//! scanner.scan_text("deploy.yaml", "\
//! apiVersion: v1
//! kind: Pod
//! metadata: {name: api, namespace: shop}
//! spec:
//!   automountServiceAccountToken: false
//!   containers:
//!   - name: api
//!     image: shop/api:1.0
//!     env:
//!     - name: DB_PASSWORD
//!       value: hunter2
//!     - name: DB_PASSWORD_FILE
//!       value: /run/secrets/db
//! ");
//! let report = scanner.finish();
//! assert_eq!(report.findings.len(), 1);
//! let f = &report.findings[0];
//! assert_eq!(f.rule, "KSEC-ENV-CREDENTIAL");
//! assert_eq!(f.path, "spec.containers[0].env[0].value");
//! assert_eq!((f.line, f.severity), (11, Severity::Medium));
//! // No output format carries the value.
//! assert!(!ksec_scan::output::sarif(&report).contains("hunter2"));
//! assert_eq!(report.exit_code(Severity::Medium), 1);
//! ```
#![forbid(unsafe_code)]

pub mod baseline;
mod checks;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod detect;
mod error;
pub mod finding;
mod input;
pub mod names;
pub mod output;
#[cfg(feature = "rego")]
pub mod policy;
pub mod rules;
mod scanner;
pub mod yaml;

pub use baseline::Baseline;
pub use checks::IGNORE_ANNOTATION;
pub use error::{Error, Result};
pub use finding::{Finding, Report, Severity, Skipped, Summary};
pub use scanner::{scan, Options, Scanner};

/// Hooks for the fuzz targets; not part of the API.
#[doc(hidden)]
pub mod internal {
    /// A GitHub token with a valid checksum (test corpora).
    pub fn github_token(random30: &str) -> String {
        crate::detect::github_token(random30)
    }

    /// The dotenv reader.
    pub fn parse_dotenv(text: &str) -> usize {
        crate::input::dotenv::parse(text).len()
    }

    /// The whole pipeline on one file's bytes: parse, rules, every output format.
    pub fn scan_bytes(name: &str, bytes: &[u8]) -> usize {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return 0;
        };
        let mut s = crate::Scanner::new(crate::Options::default());
        s.scan_text(name, text);
        let r = s.finish();
        crate::output::sarif(&r).len() + crate::output::table(&r).len()
    }
}
