//! Rego policies (feature `rego`), evaluated by `regorus`, a pure-Rust Rego
//! interpreter: kubescape's regolibrary layout (`rules/<name>/raw.rego` with
//! `rule.metadata.json`, and `default-config-inputs.json` for the configuration
//! inputs), or plain `.rego` files whose `deny` rules return kubescape-style alerts.
//!
//! Inputs are given as kubescape gives them: the list of objects, plus one "subject
//! vector" per RBAC subject (the subject with its binding and role as
//! `relatedObjects`) for rules that aggregate subjects.
use crate::error::{Error, Result};
use crate::finding::{fingerprint, Finding, Severity};
use crate::yaml;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// One Rego rule and the package its `deny` lives in.
#[derive(Clone, Debug)]
struct RegoRule {
    name: String,
    file: PathBuf,
    source: String,
    package: String,
    aggregates_subjects: bool,
}

/// Loaded policies.
#[derive(Clone, Debug)]
pub struct Policy {
    root: PathBuf,
    rules: Vec<RegoRule>,
    data: Value,
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
        let mut files: Vec<(String, PathBuf, bool)> = vec![];
        for d in rule_dirs {
            let raw = d.join("raw.rego");
            if !raw.is_file() {
                continue;
            }
            let meta: Value = std::fs::read(d.join("rule.metadata.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            let aggregates = meta
                .pointer("/attributes/resourcesAggregator")
                .and_then(Value::as_str)
                == Some("subject-role-rolebinding");
            let name = d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, raw, aggregates));
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
                    files.push((name, f, false));
                }
            }
        }
        if files.is_empty() {
            return Err(policy_err(
                root,
                "no Rego rules found (expected rules/<name>/raw.rego or *.rego files)",
            ));
        }
        files.sort();
        let mut rules = vec![];
        for (name, file, aggregates_subjects) in files {
            let source = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
            let package =
                package_of(&source).ok_or_else(|| policy_err(&file, "no package line"))?;
            rules.push(RegoRule {
                name,
                file,
                source,
                package,
                aggregates_subjects,
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
        })
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
        let mut out = vec![];
        for rule in self
            .rules
            .iter()
            .filter(|r| only.is_none_or(|n| n == r.name))
        {
            let mut input: Vec<Value> = objects.to_vec();
            if rule.aggregates_subjects {
                input.extend(subject_vectors(objects));
            }
            let mut engine = regorus::Engine::new();
            // OPA's behaviour on bad input to builtins (base64 of junk): undefined, not an error.
            engine.set_strict_builtin_errors(false);
            engine
                .add_policy(rule.file.display().to_string(), rule.source.clone())
                .map_err(|e| policy_err(&rule.file, e.to_string()))?;
            let data = regorus::Value::from_json_str(&self.data.to_string())
                .map_err(|e| policy_err(&self.root, e.to_string()))?;
            engine
                .add_data(data)
                .map_err(|e| policy_err(&self.root, e.to_string()))?;
            let input = regorus::Value::from_json_str(&Value::Array(input).to_string())
                .map_err(|e| policy_err(&rule.file, e.to_string()))?;
            engine.set_input(input);
            let result = engine
                .eval_rule(format!("data.{}.deny", rule.package))
                .map_err(|e| policy_err(&rule.file, e.to_string()))?;
            let json_text = result
                .to_json_str()
                .map_err(|e| policy_err(&rule.file, e.to_string()))?;
            let alerts: Value = serde_json::from_str(&json_text).unwrap_or(Value::Null);
            for a in alerts.as_array().into_iter().flatten() {
                out.push(finding_of(&rule.name, a, file));
            }
        }
        Ok(out)
    }

    /// Reads the YAML/JSON files under `path` and evaluates every rule over them.
    pub fn evaluate_path(&self, path: &Path) -> Result<Vec<Finding>> {
        let mut objects = vec![];
        collect_objects(path, &mut objects, 0);
        self.evaluate(&objects, &path.display().to_string(), None)
    }
}

fn collect_objects(path: &Path, out: &mut Vec<Value>, depth: usize) {
    if depth > 32 {
        return;
    }
    if path.is_dir() {
        if let Ok(rd) = std::fs::read_dir(path) {
            let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            entries.sort();
            for e in entries {
                if e.file_name().is_some_and(|n| n != ".git") {
                    collect_objects(&e, out, depth + 1);
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

/// kubescape's subject vectors: each subject of each binding, with the binding and its
/// role as `relatedObjects`.
fn subject_vectors(objects: &[Value]) -> Vec<Value> {
    let s = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut out = vec![];
    for b in objects
        .iter()
        .filter(|o| s(o, "/kind").ends_with("Binding"))
    {
        let (rk, rn) = (s(b, "/roleRef/kind"), s(b, "/roleRef/name"));
        let Some(role) = objects.iter().find(|o| {
            s(o, "/kind") == rk
                && s(o, "/metadata/name") == rn
                && (rk == "ClusterRole"
                    || s(o, "/metadata/namespace") == s(b, "/metadata/namespace"))
        }) else {
            continue;
        };
        for subj in b
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut v = subj.clone();
            v["relatedObjects"] = json!([b, role]);
            out.push(v);
        }
    }
    out
}

fn finding_of(rule: &str, a: &Value, file: &str) -> Finding {
    let obj = a
        .pointer("/alertObject/k8sApiObjects/0")
        .or_else(|| a.pointer("/alertObject/externalObjects"))
        .cloned()
        .unwrap_or(Value::Null);
    let str_of = |p: &str| obj.pointer(p).and_then(Value::as_str).map(str::to_string);
    let kind = str_of("/kind").unwrap_or_default();
    let name = str_of("/metadata/name")
        .or_else(|| str_of("/name"))
        .unwrap_or_default();
    let namespace = str_of("/metadata/namespace").or_else(|| str_of("/namespace"));
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
            file,
            &kind,
            namespace.as_deref().unwrap_or(""),
            &name,
            &path,
        ),
        rule: id,
        controls: vec![],
        severity,
        title: format!("Rego rule {rule}"),
        file: file.to_string(),
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
