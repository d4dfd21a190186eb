//! The scanner: takes inputs one at a time (paths, texts, objects), runs the
//! per-object rules as it reads them, keeps only small summaries of the objects that
//! other objects refer to (service accounts, roles, bindings, workloads), and runs the
//! cross-object rules in [`Scanner::finish`]. Memory stays flat in the number of files.
use crate::baseline::Baseline;
use crate::checks::{self, CrossRefs};
use crate::finding::{fingerprint, Finding, Report, Severity, Skipped};
use crate::rules::Rule;
use crate::yaml::{self, Doc, Limits, Pos};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What to scan and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Files larger than this are skipped (and reported).
    pub max_file_size: u64,
    /// Bounds of the YAML parser.
    pub limits: Limits,
    /// Values files given to `helm template` for every chart.
    pub helm_values: Vec<PathBuf>,
    /// The `helm` program; `None`: `helm` on `PATH`, else charts are not rendered.
    pub helm: Option<PathBuf>,
    /// The `kubectl` program for `kubectl kustomize`; `None`: look on `PATH`.
    pub kubectl: Option<PathBuf>,
    /// Also walk the git history of repositories given as paths.
    pub git_history: bool,
    /// Recipients (age recipients, PGP fingerprints, KMS key ids) the user retired.
    pub retired_recipients: Vec<String>,
    /// Findings recorded earlier, suppressed from the report.
    pub baseline: Option<Baseline>,
    /// Time limit of each `helm`, `kubectl` and `git` run; past it the tool and what it
    /// started are killed and the input is reported as skipped. Five minutes: rendering
    /// a big chart takes seconds, a Kustomize base fetched from a remote repository or a
    /// long git history takes longer.
    pub tool_timeout: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_file_size: 8 * 1024 * 1024,
            limits: Limits::default(),
            helm_values: vec![],
            helm: None,
            kubectl: None,
            git_history: false,
            retired_recipients: vec![],
            baseline: None,
            tool_timeout: std::time::Duration::from_secs(300),
        }
    }
}

/// Where a document came from, for findings.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    /// File name shown in findings.
    pub file: String,
    /// Lines of this source are real lines of `file` (false for rendered output).
    pub has_lines: bool,
    /// The file is in a repository or folder (not on a control-plane host): key
    /// material written inline is committed.
    pub committed: bool,
}

/// A scan in progress.
pub struct Scanner {
    pub(crate) opts: Options,
    pub(crate) report: Report,
    pub(crate) refs: CrossRefs,
    /// Rego policies evaluated on cluster objects.
    #[cfg(all(feature = "rego", feature = "cluster"))]
    pub(crate) policies: Vec<crate::policy::Policy>,
}

/// One object (or a list item) of a document, as the rules see it.
pub(crate) struct Obj<'a> {
    pub doc: &'a Doc,
    /// `items[3]` for an item of a `kind: List`, else empty.
    pub base: String,
    pub value: &'a Value,
    pub source: &'a Source,
    pub kind: &'a str,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub ignore: Vec<String>,
}

impl Obj<'_> {
    /// Where `path` (kubescape style, `data[KEY]` allowed) starts.
    pub(crate) fn pos(&self, path: &str) -> Pos {
        if !self.source.has_lines {
            return Pos::default();
        }
        let yaml_path = kubescape_to_yaml_path(path);
        if self.base.is_empty() {
            self.doc.pos(&yaml_path)
        } else if yaml_path.is_empty() {
            self.doc.pos(&self.base)
        } else {
            self.doc.pos(&format!("{}.{yaml_path}", self.base))
        }
    }
}

/// `data[KEY].x` → `data.KEY.x`; `a[0]` stays.
pub(crate) fn kubescape_to_yaml_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut rest = p;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find(']') else {
            break;
        };
        let inner = &rest[i + 1..i + j];
        if inner.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&rest[i..=i + j]);
        } else {
            out.push('.');
            out.push_str(inner);
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    out
}

/// A finding's location, before it becomes a [`Finding`].
pub(crate) struct Loc<'a> {
    pub file: &'a str,
    pub kind: &'a str,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub ignore: &'a [String],
}

impl<'a> Loc<'a> {
    /// A whole file that is not a Kubernetes object (a dotenv, SOPS or config file):
    /// no kind, name or namespace, and no ignore annotation.
    pub(crate) fn file(file: &'a str) -> Self {
        Loc {
            file,
            kind: "",
            namespace: None,
            name: "",
            ignore: &[],
        }
    }
}

impl<'a> Obj<'a> {
    pub(crate) fn loc(&'a self) -> Loc<'a> {
        Loc {
            file: &self.source.file,
            kind: self.kind,
            namespace: self.namespace,
            name: self.name,
            ignore: &self.ignore,
        }
    }
}

impl Scanner {
    /// A scanner with these options.
    pub fn new(opts: Options) -> Self {
        Scanner {
            opts,
            report: Report::default(),
            refs: CrossRefs::default(),
            #[cfg(all(feature = "rego", feature = "cluster"))]
            policies: vec![],
        }
    }

    /// Records a finding unless the object opts out of the rule.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn emit(
        &mut self,
        rule: &Rule,
        severity: Severity,
        loc: &Loc<'_>,
        path: &str,
        pos: Pos,
        message: String,
        related: Vec<String>,
    ) {
        if loc.ignore.iter().any(|r| r == rule.id) {
            self.report.summary.ignored += 1;
            return;
        }
        let ns = loc.namespace.unwrap_or("");
        self.report.findings.push(Finding {
            rule: rule.id.to_string(),
            controls: rule.controls.iter().map(|c| c.to_string()).collect(),
            severity,
            title: rule.title.to_string(),
            file: loc.file.to_string(),
            line: pos.line,
            column: pos.column,
            kind: loc.kind.to_string(),
            namespace: loc.namespace.map(str::to_string),
            name: loc.name.to_string(),
            path: path.to_string(),
            message,
            fingerprint: fingerprint(rule.id, loc.file, loc.kind, ns, loc.name, path),
            related,
        });
    }

    /// Reports an input that could not be scanned.
    pub(crate) fn skip(&mut self, file: impl Into<String>, reason: impl Into<String>) {
        self.report.skipped.push(Skipped {
            file: file.into(),
            reason: reason.into(),
        });
    }

    /// Adds a note to the report.
    pub(crate) fn note(&mut self, note: impl Into<String>) {
        self.report.notes.push(note.into());
    }

    /// Scans a file or a directory (Kustomize directories and Helm charts rendered when
    /// their tool is available), and its git history when asked.
    pub fn scan_path(&mut self, path: &Path) {
        crate::input::walk::scan_path(self, path);
        if self.opts.git_history {
            crate::input::git::scan_history(self, path);
        }
    }

    /// Scans the text of one file; `name` decides its format (`.env` is dotenv).
    pub fn scan_text(&mut self, name: &str, text: &str) {
        let source = Source {
            file: name.to_string(),
            has_lines: true,
            committed: true,
        };
        self.scan_source(&source, text);
    }

    pub(crate) fn scan_source(&mut self, source: &Source, text: &str) {
        self.report.summary.files += 1;
        if crate::input::dotenv::is_dotenv_name(&source.file) {
            crate::input::dotenv::scan(self, source, text);
            return;
        }
        let docs = match yaml::parse_stream(text, self.opts.limits) {
            Ok(d) => d,
            Err(e) => match serde_json_fallback(text) {
                Some(d) => d,
                None => {
                    self.skip(&source.file, e.to_string());
                    return;
                }
            },
        };
        if docs.len() == 1 && checks::encrypted::is_sops(&docs[0].value) {
            checks::encrypted::sops_file(self, source, text, &docs[0]);
            return;
        }
        for doc in &docs {
            self.scan_doc(source, doc);
        }
    }

    /// Scans parsed objects (from a cluster, or any other source without lines).
    pub fn scan_objects(&mut self, file: &str, objects: Vec<Value>) {
        let source = Source {
            file: file.to_string(),
            has_lines: false,
            committed: false,
        };
        for v in objects {
            let doc = Doc::unpositioned(v);
            self.scan_doc(&source, &doc);
        }
    }

    pub(crate) fn scan_doc(&mut self, source: &Source, doc: &Doc) {
        let is_list = doc
            .value
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"))
            && doc.value.get("items").is_some_and(Value::is_array);
        if is_list {
            let items = doc.value["items"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for (i, item) in items.iter().enumerate() {
                checks::check_object(self, source, doc, format!("items[{i}]"), item);
            }
        } else {
            checks::check_object(self, source, doc, String::new(), &doc.value);
        }
    }

    /// Adds findings made elsewhere (Rego policies); the baseline applies to them too.
    pub fn add_findings(&mut self, findings: Vec<Finding>) {
        self.report.findings.extend(findings);
    }

    /// Runs the cross-object rules, applies the baseline, and returns the report.
    pub fn finish(mut self) -> Report {
        let refs = std::mem::take(&mut self.refs);
        checks::cross::run(&mut self, &refs);
        let mut report = std::mem::take(&mut self.report);
        if let Some(b) = &self.opts.baseline {
            let before = report.findings.len();
            report.findings.retain(|f| !b.contains(&f.fingerprint));
            report.summary.baselined = before - report.findings.len();
        }
        report.finish();
        report
    }
}

/// JSON that YAML's grammar refuses (tabs for indentation): read by serde_json,
/// without positions.
fn serde_json_fallback(text: &str) -> Option<Vec<Doc>> {
    let t = text.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) || text.len() > 64 * 1024 * 1024 {
        return None;
    }
    let mut out = vec![];
    for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        out.push(Doc::unpositioned(v.ok()?));
    }
    Some(out)
}

/// Scans paths with the options and returns the report.
pub fn scan(paths: &[PathBuf], opts: Options) -> Report {
    let mut s = Scanner::new(opts);
    for p in paths {
        s.scan_path(p);
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubescape_paths_map_to_yaml_paths() {
        assert_eq!(kubescape_to_yaml_path("data[DB_URL]"), "data.DB_URL");
        assert_eq!(
            kubescape_to_yaml_path("spec.containers[0].env[1].value"),
            "spec.containers[0].env[1].value"
        );
    }
}
