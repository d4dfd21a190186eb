//! Rendered manifests checked against the Kubernetes API schemas of several Kubernetes
//! versions, with the real `kubernetes-validate` (PyPI) in one Python process: the
//! offline stand-in for `kubectl apply --dry-run=server`, which needs a live cluster.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What the validator said about one document for one Kubernetes version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Valid.
    Valid,
    /// Invalid, with the validator's message (field path and reason).
    Invalid(String),
    /// The validator has no schema for this kind (custom resources such as a
    /// ServiceMonitor): check such documents yourself.
    NoSchema,
}

/// One document's result for one version.
#[derive(Clone, Debug)]
pub struct Validation {
    /// The document's position in the input (0-based, empty documents skipped).
    pub index: usize,
    /// `kind` and `metadata.name`, for messages.
    pub kind: String,
    /// The document's name.
    pub name: String,
    /// The Kubernetes version (`1.25`).
    pub version: String,
    /// The verdict.
    pub outcome: Outcome,
}

impl Validation {
    /// `Deployment/x on 1.30: message` for an assertion message.
    pub fn describe(&self) -> String {
        let what = match &self.outcome {
            Outcome::Valid => "valid".to_string(),
            Outcome::Invalid(m) => m.clone(),
            Outcome::NoSchema => "no schema".to_string(),
        };
        format!("{}/{} on {}: {what}", self.kind, self.name, self.version)
    }
}

const SCRIPT: &str = r#"
import json, sys, yaml
import kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError
versions = sys.argv[1].split(",")
strict = sys.argv[2] == "strict"
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
out = []
for i, d in enumerate(docs):
    kind = d.get("kind", "?")
    name = (d.get("metadata") or {}).get("name", "?")
    for v in versions:
        try:
            kubernetes_validate.validate(d, v, strict)
            r = ("valid", "")
        except SchemaNotFoundError:
            r = ("noschema", "")
        except ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            r = ("invalid", "%s: %s" % (path, e.message))
        out.append({"index": i, "kind": kind, "name": name, "version": v,
                    "outcome": r[0], "message": r[1]})
json.dump(out, sys.stdout)
"#;

/// Every document of `manifests` (multi-document YAML) checked for each of `versions`
/// (`"1.25"`, …), strictly (unknown fields are errors) when `strict`. `None` when the
/// validator is missing (a failure under CI, see [`crate::missing`]).
pub fn validate(manifests: &str, versions: &[&str], strict: bool) -> Option<Vec<Validation>> {
    let python: PathBuf = crate::python_with("KSEC_PYTHON", "kubernetes_validate")?;
    let mut child = Command::new(python)
        .args([
            "-c",
            SCRIPT,
            &versions.join(","),
            if strict { "strict" } else { "lax" },
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python with kubernetes_validate");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(manifests.as_bytes())
        .expect("write the manifests to the validator");
    let out = child.wait_with_output().expect("run kubernetes_validate");
    assert!(
        out.status.success(),
        "kubernetes_validate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("the validator's JSON");
    Some(
        results
            .into_iter()
            .map(|r| {
                let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                Validation {
                    index: r["index"].as_u64().unwrap_or_default() as usize,
                    kind: text("kind"),
                    name: text("name"),
                    version: text("version"),
                    outcome: match r["outcome"].as_str() {
                        Some("valid") => Outcome::Valid,
                        Some("noschema") => Outcome::NoSchema,
                        _ => Outcome::Invalid(text("message")),
                    },
                }
            })
            .collect(),
    )
}
