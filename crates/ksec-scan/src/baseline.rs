//! Baselines: the fingerprints of findings accepted earlier. A baseline file holds
//! rule ids, files and fingerprints (hashes of rule and location), never values.
use crate::error::{Error, Result};
use crate::finding::Report;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// The format written and read.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Entry {
    rule: String,
    file: String,
    fingerprint: String,
}

#[derive(Serialize, Deserialize)]
struct File {
    ksec_scan_baseline: u32,
    findings: Vec<Entry>,
}

/// A set of accepted fingerprints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baseline {
    fingerprints: BTreeSet<String>,
}

impl Baseline {
    /// Whether a finding with this fingerprint was accepted.
    pub fn contains(&self, fingerprint: &str) -> bool {
        self.fingerprints.contains(fingerprint)
    }

    /// Reads a baseline file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let f: File = serde_json::from_slice(&text).map_err(|e| Error::Baseline {
            path: path.into(),
            message: format!("not a ksec scan baseline ({e}); write one from a report first"),
        })?;
        if f.ksec_scan_baseline != VERSION {
            return Err(Error::Baseline {
                path: path.into(),
                message: format!("format version {} is not {VERSION}", f.ksec_scan_baseline),
            });
        }
        Ok(Baseline {
            fingerprints: f.findings.into_iter().map(|e| e.fingerprint).collect(),
        })
    }

    /// The baseline text that accepts every finding of `report`.
    pub fn text_of(report: &Report) -> String {
        let f = File {
            ksec_scan_baseline: VERSION,
            findings: report
                .findings
                .iter()
                .map(|f| Entry {
                    rule: f.rule.clone(),
                    file: f.file.clone(),
                    fingerprint: f.fingerprint.clone(),
                })
                .collect(),
        };
        let mut s = serde_json::to_string_pretty(&f).unwrap_or_default();
        s.push('\n');
        s
    }
}
