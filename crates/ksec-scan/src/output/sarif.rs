use crate::finding::{Report, Severity};
use crate::rules;
use serde_json::{json, Value};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning reads this property to rank security results.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::High => "8.0",
        Severity::Medium => "5.0",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// A relative URI reference for a file name: path characters kept, others escaped.
fn uri(file: &str) -> String {
    let mut out = String::new();
    for b in file.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~@:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The report as SARIF 2.1.0: every rule with its help text, results with file, line
/// and column, and a `partialFingerprints` entry (rule and location hash).
pub fn sarif(report: &Report) -> String {
    let mut rule_ids: Vec<String> = rules::ALL.iter().map(|r| r.id.to_string()).collect();
    let mut rule_objs: Vec<Value> = rules::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.title.replace(' ', ""),
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": r.title},
                "help": {
                    "text": r.remediation,
                    "markdown": format!("**{}**\n\n{}", r.title, r.remediation),
                },
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {
                    "tags": r.controls,
                    "security-severity": security_severity(r.severity),
                },
            })
        })
        .collect();
    let mut results = vec![];
    for f in &report.findings {
        let index = match rule_ids.iter().position(|id| *id == f.rule) {
            Some(i) => i,
            None => {
                // Policy rules are known only from their findings.
                rule_ids.push(f.rule.clone());
                rule_objs.push(json!({
                    "id": f.rule,
                    "shortDescription": {"text": f.title},
                    "help": {"text": f.title},
                    "properties": {"tags": f.controls},
                }));
                rule_ids.len() - 1
            }
        };
        let mut physical = json!({"artifactLocation": {"uri": uri(&f.file)}});
        if f.line > 0 {
            physical["region"] = json!({"startLine": f.line, "startColumn": f.column.max(1)});
        }
        let mut logical = vec![];
        if !f.kind.is_empty() {
            let ns = f
                .namespace
                .as_deref()
                .map(|n| format!("{n}/"))
                .unwrap_or_default();
            logical.push(json!({
                "fullyQualifiedName": format!("{}/{ns}{}:{}", f.kind, f.name, f.path),
                "kind": "object",
            }));
        }
        let mut location = json!({"physicalLocation": physical});
        if !logical.is_empty() {
            location["logicalLocations"] = Value::Array(logical);
        }
        results.push(json!({
            "ruleId": f.rule,
            "ruleIndex": index,
            "level": level(f.severity),
            "message": {"text": f.message},
            "locations": [location],
            "partialFingerprints": {"ksecLocationHash/v1": f.fingerprint},
            "properties": {"severity": f.severity.as_str(), "controls": f.controls},
        }));
    }
    let notifications: Vec<Value> = report
        .skipped
        .iter()
        .map(|s| {
            json!({
                "level": "warning",
                "message": {"text": format!("skipped: {}", s.reason)},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(&s.file)}}}],
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "ksec-scan",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/ksec-dev/ksec",
                "rules": rule_objs,
            }},
            "invocations": [{
                "executionSuccessful": report.skipped.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
