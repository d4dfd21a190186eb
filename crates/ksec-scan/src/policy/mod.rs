//! Rego policies (feature `rego`), evaluated by `regorus`, a pure-Rust Rego
//! interpreter: kubescape's regolibrary layout (`rules/<name>/raw.rego` with
//! `rule.metadata.json`, and `default-config-inputs.json` for the configuration
//! inputs), or plain `.rego` files whose `deny` rules return kubescape-style alerts.
//!
//! Inputs are given as kubescape gives them, whether the objects come from files or
//! from a live cluster (`Scanner::add_policy`, feature `cluster`): `input` is the array
//! of the objects the rule's metadata selects, or the subject vectors / kube-apiserver
//! pod its aggregator asks for (see `input.rs`). One function evaluates both; only the
//! name a finding gives its location differs (a file, or the live object as
//! `Kind/namespace/name`).
//!
//! **Bounds** ([`EvalLimits`], the same for files and clusters): at most 20,000 objects
//! in one evaluation, and five minutes of wall-clock time per rule (regorus's cooperative
//! execution timer). Past either, the evaluation is refused with [`Error::Policy`].
//!
//! **No values in findings.** A rule writes its own alert message; a message or path
//! that quotes a value of the input (Secret and ConfigMap data, also base64-decoded,
//! environment values) has the value replaced by `[withheld]`, and so has an error of
//! the evaluator.
mod input;
mod withhold;

use crate::error::{Error, Result};
use crate::finding::{fingerprint, Finding, Severity};
#[cfg(feature = "cluster")]
use crate::scanner::Scanner;
use crate::yaml;
use input::Selection;
use serde_json::{json, Value};
use std::cell::OnceCell;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;
use withhold::Withheld;

/// One Rego rule and the package its `deny` lives in.
#[derive(Clone, Debug)]
struct RegoRule {
    name: String,
    file: PathBuf,
    source: String,
    package: String,
    selection: Selection,
}

/// Bounds of one evaluation of a [`Policy`], for files and clusters alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalLimits {
    /// Most objects given to the rules at once. A cluster or folder with more is not
    /// evaluated (an error says so); scan it a part at a time.
    pub max_objects: usize,
    /// Wall-clock time one rule may take over the objects.
    pub time_per_rule: Duration,
}

impl Default for EvalLimits {
    /// 20,000 objects (a large cluster's workloads, RBAC and ConfigMaps; the objects
    /// stay in memory until the rules have run) and five minutes per rule, the time a
    /// helm, kubectl or git run gets ([`crate::Options::tool_timeout`]): regorus spends
    /// about 50 ms per Pod on kubescape's `rule-credentials-in-env-var` in a debug build
    /// (its regular expressions), so a big cluster needs minutes there.
    fn default() -> Self {
        EvalLimits {
            max_objects: 20_000,
            time_per_rule: Duration::from_secs(300),
        }
    }
}

/// How many steps of the evaluator pass between two looks at the clock: often enough
/// to stop within milliseconds of the limit, rarely enough to cost nothing.
const CLOCK_EVERY: NonZeroU32 = match NonZeroU32::new(64) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

/// Loaded policies.
#[derive(Clone, Debug)]
pub struct Policy {
    root: PathBuf,
    rules: Vec<RegoRule>,
    data: Value,
    limits: EvalLimits,
}

fn package_of(source: &str) -> Option<String> {
    source
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("package "))
        .map(|p| p.trim().to_string())
}

fn policy_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Policy {
        path: path.into(),
        message: message.into(),
    }
}

impl Policy {
    /// Loads a regolibrary folder (or one of its `rules/<name>` folders), or a folder
    /// of `.rego` files, or one `.rego` file.
    pub fn load(root: &Path) -> Result<Self> {
        let mut rule_dirs = vec![];
        let rules_dir = root.join("rules");
        if rules_dir.is_dir() {
            let rd = std::fs::read_dir(&rules_dir).map_err(|e| Error::io(&rules_dir, e))?;
            rule_dirs.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()));
        } else if root.join("raw.rego").is_file() {
            rule_dirs.push(root.to_path_buf());
        }
        let mut files: Vec<(String, PathBuf, Selection)> = vec![];
        for d in rule_dirs {
            let raw = d.join("raw.rego");
            if !raw.is_file() {
                continue;
            }
            let meta: Value = std::fs::read(d.join("rule.metadata.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            let name = d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, raw, Selection::of_metadata(&meta)));
        }
        if files.is_empty() {
            let candidates: Vec<PathBuf> = if root.is_file() {
                vec![root.to_path_buf()]
            } else {
                let rd = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
                rd.filter_map(|e| e.ok()).map(|e| e.path()).collect()
            };
            for f in candidates {
                if f.extension().is_some_and(|e| e == "rego") {
                    let name = f
                        .file_stem()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    files.push((name, f, Selection::everything()));
                }
            }
        }
        if files.is_empty() {
            return Err(policy_err(
                root,
                "no Rego rules found (expected rules/<name>/raw.rego or *.rego files)",
            ));
        }
        files.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut rules = vec![];
        for (name, file, selection) in files {
            let source = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
            let package =
                package_of(&source).ok_or_else(|| policy_err(&file, "no package line"))?;
            // Refused here, before any input is read, rather than at the first evaluation.
            regorus::Engine::new()
                .add_policy(file.display().to_string(), source.clone())
                .map_err(|e| policy_err(&file, e.to_string()))?;
            rules.push(RegoRule {
                name,
                file,
                source,
                package,
                selection,
            });
        }
        let inputs = std::fs::read(root.join("default-config-inputs.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v.pointer("/settings/postureControlInputs").cloned())
            .unwrap_or_else(|| json!({}));
        Ok(Policy {
            root: root.to_path_buf(),
            rules,
            data: json!({"postureControlInputs": inputs}),
            limits: EvalLimits::default(),
        })
    }

    /// The folder or file the policy was loaded from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The bounds of each evaluation.
    pub fn limits(&self) -> EvalLimits {
        self.limits
    }

    /// Changes the bounds of each evaluation.
    pub fn set_limits(&mut self, limits: EvalLimits) {
        self.limits = limits;
    }

    /// Names of the loaded rules.
    pub fn rule_names(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.name.as_str()).collect()
    }

    /// Overrides configuration inputs (`{"postureControlInputs": {…}}`), as a
    /// kubescape test case's `data.json` does.
    pub fn set_inputs(&mut self, overrides: &Value) {
        if let (Some(base), Some(o)) = (
            self.data
                .get_mut("postureControlInputs")
                .and_then(Value::as_object_mut),
            overrides
                .get("postureControlInputs")
                .and_then(Value::as_object),
        ) {
            for (k, v) in o {
                base.insert(k.clone(), v.clone());
            }
        }
    }

    /// Evaluates the named rule (or every rule when `only` is `None`) over `objects`;
    /// `file` names them in findings.
    pub fn evaluate(
        &self,
        objects: &[Value],
        file: &str,
        only: Option<&str>,
    ) -> Result<Vec<Finding>> {
        self.evaluate_at(objects, only, &|_: &str, _: Option<&str>, _: &str| {
            file.to_string()
        })
    }

    /// The one evaluation, for files and clusters: `locate(kind, namespace, name)`
    /// names where each finding's object was read.
    pub(crate) fn evaluate_at(
        &self,
        objects: &[Value],
        only: Option<&str>,
        locate: &dyn Fn(&str, Option<&str>, &str) -> String,
    ) -> Result<Vec<Finding>> {
        if objects.len() > self.limits.max_objects {
            return Err(policy_err(
                &self.root,
                format!(
                    "{}: more than {} to evaluate at once (the limit); evaluate a smaller part at a time",
                    crate::finding::TOO_MANY_OBJECTS,
                    self.limits.max_objects
                ),
            ));
        }
        let values = OnceCell::new();
        let withhold = |text: &str| values.get_or_init(|| Withheld::of(objects)).apply(text);
        let data = regorus::Value::from_json_str(&self.data.to_string())
            .map_err(|e| policy_err(&self.root, e.to_string()))?;
        // Rules that select the same objects share one input (regorus values are
        // reference-counted).
        let mut inputs: HashMap<&Selection, Option<regorus::Value>> = HashMap::new();
        let timer = regorus::utils::limits::ExecutionTimerConfig {
            limit: self.limits.time_per_rule,
            check_interval: CLOCK_EVERY,
        };
        let mut out = vec![];
        for rule in self
            .rules
            .iter()
            .filter(|r| only.is_none_or(|n| n == r.name))
        {
            let failed =
                |e: &dyn std::fmt::Display| policy_err(&rule.file, withhold(&e.to_string()));
            let input = match inputs.get(&rule.selection) {
                Some(input) => input.clone(),
                None => {
                    let input = match rule.selection.input(objects) {
                        Some(list) => Some(
                            regorus::Value::from_json_str(&Value::Array(list).to_string())
                                .map_err(|e| failed(&e))?,
                        ),
                        None => None,
                    };
                    inputs.insert(&rule.selection, input.clone());
                    input
                }
            };
            // Nothing this rule judges: kubescape does not run it.
            let Some(input) = input else { continue };
            let mut engine = regorus::Engine::new();
            // OPA's behaviour on bad input to builtins (base64 of junk): undefined, not an error.
            engine.set_strict_builtin_errors(false);
            engine.set_execution_timer_config(timer);
            engine
                .add_policy(rule.file.display().to_string(), rule.source.clone())
                .map_err(|e| failed(&e))?;
            engine.add_data(data.clone()).map_err(|e| failed(&e))?;
            engine.set_input(input);
            let result = engine
                .eval_rule(format!("data.{}.deny", rule.package))
                .map_err(|e| failed(&e))?;
            let json_text = result.to_json_str().map_err(|e| failed(&e))?;
            let alerts: Value = serde_json::from_str(&json_text).unwrap_or(Value::Null);
            for a in alerts.as_array().into_iter().flatten() {
                let mut f = finding_of(&rule.name, a, locate);
                f.message = withhold(&f.message);
                f.path = withhold(&f.path);
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Reads the YAML/JSON files under `path` and evaluates every rule over them.
    pub fn evaluate_path(&self, path: &Path) -> Result<Vec<Finding>> {
        let mut objects = vec![];
        // One past the limit is enough for the evaluation to refuse them.
        collect_objects(path, &mut objects, 0, self.limits.max_objects + 1);
        self.evaluate(&objects, &path.display().to_string(), None)
    }
}

fn collect_objects(path: &Path, out: &mut Vec<Value>, depth: usize, max: usize) {
    if depth > 32 || out.len() >= max {
        return;
    }
    if path.is_dir() {
        if let Ok(rd) = std::fs::read_dir(path) {
            let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            entries.sort();
            for e in entries {
                if e.file_name().is_some_and(|n| n != ".git") {
                    collect_objects(&e, out, depth + 1, max);
                }
            }
        }
        return;
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !matches!(ext, "yaml" | "yml" | "json") {
        return;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    if let Ok(docs) = yaml::parse_stream(&text, yaml::Limits::default()) {
        out.extend(
            docs.into_iter()
                .map(|d| d.value)
                .filter(|v| v.get("kind").is_some()),
        );
    }
}

/// Kind, namespace and name of an alert's object (a subject's, for a subject vector).
fn identity(obj: &Value) -> (String, Option<String>, String) {
    let str_of = |p: &str| obj.pointer(p).and_then(Value::as_str).map(str::to_string);
    let kind = str_of("/kind").unwrap_or_default();
    let name = str_of("/metadata/name")
        .or_else(|| str_of("/name"))
        .unwrap_or_default();
    let namespace = str_of("/metadata/namespace").or_else(|| str_of("/namespace"));
    (kind, namespace, name)
}

fn finding_of(
    rule: &str,
    a: &Value,
    locate: &dyn Fn(&str, Option<&str>, &str) -> String,
) -> Finding {
    let obj = a
        .pointer("/alertObject/k8sApiObjects/0")
        .or_else(|| a.pointer("/alertObject/externalObjects"))
        .cloned()
        .unwrap_or(Value::Null);
    let (kind, namespace, name) = identity(&obj);
    // A subject is no object of its own: it is found through its binding.
    let read_from = obj
        .get("relatedObjects")
        .and_then(Value::as_array)
        .and_then(|r| {
            r.iter().find(|o| {
                o.get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("Binding"))
            })
        })
        .map(identity);
    let file = match &read_from {
        Some((k, ns, n)) => locate(k, ns.as_deref(), n),
        None => locate(&kind, namespace.as_deref(), &name),
    };
    let path = ["failedPaths", "reviewPaths", "deletePaths"]
        .iter()
        .find_map(|k| {
            a.get(*k)
                .and_then(|p| p.get(0))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| {
            a.pointer("/fixPaths/0/path")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    let score = a.get("alertScore").and_then(Value::as_f64).unwrap_or(5.0);
    let severity = if score >= 7.0 {
        Severity::High
    } else if score >= 4.0 {
        Severity::Medium
    } else {
        Severity::Low
    };
    let id = format!("REGO-{rule}");
    let message = a
        .get("alertMessage")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Finding {
        fingerprint: fingerprint(
            &id,
            &file,
            &kind,
            namespace.as_deref().unwrap_or(""),
            &name,
            &path,
        ),
        rule: id,
        controls: vec![],
        severity,
        title: format!("Rego rule {rule}"),
        file,
        line: 0,
        column: 0,
        kind,
        namespace,
        name,
        path,
        message,
        related: vec![],
    }
}

#[cfg(feature = "cluster")]
impl Scanner {
    /// Adds Rego policies to evaluate on what [`Scanner::scan_cluster`] reads (with the
    /// feature `cluster`): the objects the scanner's own rules judge, given to the rules as
    /// [`Policy::evaluate`] gives a file's objects, with findings named after the live
    /// object. A policy that fails to evaluate, or meets more objects than its
    /// [`EvalLimits`], is reported as skipped and the scan goes on.
    pub fn add_policy(&mut self, policy: Policy) {
        self.policies.push(policy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_quoting_a_value_in_a_file_gets_it_withheld_too() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("quote.rego"),
            "package q\n\ndeny contains msga if {\n\tobj := input[_]\n\tv := obj.data[_]\n\tmsga := {\"alertMessage\": sprintf(\"found %v\", [v]), \"alertObject\": {\"k8sApiObjects\": [obj]}}\n}\n",
        )
        .unwrap();
        let policy = Policy::load(dir.path()).unwrap();
        let objects =
            [json!({"kind": "Secret", "metadata": {"name": "db"}, "data": {"p": "aHVudGVyMg=="}})];
        let f = policy.evaluate(&objects, "s.yaml", None).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].message, "found [withheld]");
        assert_eq!(f[0].file, "s.yaml");
    }

    #[test]
    fn too_many_objects_are_refused_naming_the_policy() {
        let mut policy = Policy {
            root: PathBuf::from("/policies"),
            rules: vec![],
            data: json!({}),
            limits: EvalLimits::default(),
        };
        policy.set_limits(EvalLimits {
            max_objects: 1,
            ..policy.limits()
        });
        let e = policy
            .evaluate(&[json!({}), json!({})], "f", None)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "policy /policies: too many objects: more than 1 to evaluate at once (the limit); evaluate a smaller part at a time"
        );
    }
}
