//! What a failed `helm`, `kubectl` or `git` run said, made safe for a report.
//!
//! Their error text can quote what they read: a chart's `fail`/`required` message is
//! written by the chart's author and often names the value that is wrong, YAML decoding
//! errors quote the scalar they could not convert (``cannot unmarshal !!str `hunter2`
//! into int``), schema validation errors quote the rejected value, and kustomize's env
//! file errors quote the line. So the text is never copied: a known error keeps only the
//! file (and line) it names and a reason in ksec's words; an unknown one keeps the file
//! names it mentions and says how to see the whole message.
use regex::Regex;
use std::sync::OnceLock;

/// The tool whose error is summarised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tool {
    /// `helm template`.
    Helm,
    /// `kubectl kustomize`.
    Kustomize,
    /// `git`.
    Git,
}

impl Tool {
    fn command(self) -> &'static str {
        match self {
            Tool::Helm => "helm template",
            Tool::Kustomize => "kubectl kustomize",
            Tool::Git => "git",
        }
    }
}

struct Known {
    pattern: Regex,
    /// The reason; `{1}`, `{2}` stand for the pattern's groups (file names, lines).
    reason: &'static str,
}

fn known() -> &'static [Known] {
    static KNOWN: OnceLock<Vec<Known>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let k = |p: &str, reason| Known {
            pattern: Regex::new(p).expect("a valid pattern"),
            reason,
        };
        vec![
            k(
                r"execution error at \(([^)\s]+)\)",
                "`fail` or `required` at {1} stopped the rendering (the chart's message is not shown: it may quote a value)",
            ),
            k(
                r"template: ([^\s:]+(?::\d+){1,2}): executing",
                "template error at {1}",
            ),
            k(r"parse error at \(([^)\s]+)\)", "template syntax error at {1}"),
            k(
                r"YAML parse error on ([^\s:]+):.*?line (\d+)",
                "{1} renders text that is not valid YAML (line {2})",
            ),
            k(
                r"YAML parse error on ([^\s:]+)",
                "{1} renders text that is not valid YAML",
            ),
            k(
                r"values don't meet the specifications of the schema",
                "the values do not satisfy the chart's values.schema.json",
            ),
            k(
                r"failed to parse ([^\s:]+):",
                "{1} is not valid YAML",
            ),
            k(
                r"missing in charts/ directory",
                "chart dependencies are missing from charts/ (`helm dependency build` fetches them)",
            ),
            k(r"open ([^\s:]+): no such file or directory", "{1} does not exist"),
            k(
                r"Chart\.yaml file is missing",
                "the directory has no Chart.yaml",
            ),
        ]
    })
}

fn file_names() -> &'static Regex {
    static FILES: OnceLock<Regex> = OnceLock::new();
    FILES.get_or_init(|| {
        Regex::new(r"[\w./-]*\w\.(?:ya?ml|json|tpl|txt|env|properties)\b(?::\d+){0,2}")
            .expect("a valid pattern")
    })
}

/// A reason for a skipped input that says why `tool` failed without copying its words.
pub(crate) fn summarize(tool: Tool, status: Option<i32>, stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let status = status.map_or_else(
        || "killed by a signal".to_string(),
        |c| format!("exit status {c}"),
    );
    for k in known() {
        if let Some(c) = k.pattern.captures(&text) {
            let mut reason = k.reason.to_string();
            for i in 1..c.len() {
                let group = c.get(i).map_or("", |m| m.as_str());
                reason = reason.replace(&format!("{{{i}}}"), group);
            }
            return format!("{} failed: {reason}", tool.command());
        }
    }
    let mut files: Vec<&str> = file_names().find_iter(&text).map(|m| m.as_str()).collect();
    files.dedup();
    files.truncate(3);
    let named = if files.is_empty() {
        String::new()
    } else {
        format!(" about {}", files.join(", "))
    };
    format!(
        "{} failed ({status}){named}; its message is not shown because it may quote what it read (run `{}` to see it)",
        tool.command(),
        tool.command()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "hunter2-Zq81";

    #[test]
    fn a_charts_fail_message_is_dropped_and_its_place_kept() {
        let err = format!("Error: execution error at (shop/templates/secret.yaml:3:4): the password {SECRET} is too short\n");
        let r = summarize(Tool::Helm, Some(1), err.as_bytes());
        assert_eq!(r, "helm template failed: `fail` or `required` at shop/templates/secret.yaml:3:4 stopped the rendering (the chart's message is not shown: it may quote a value)");
    }

    #[test]
    fn template_and_yaml_errors_keep_file_and_line() {
        let r = summarize(
            Tool::Helm,
            Some(1),
            b"Error: template: shop/templates/broken.yaml:1:10: executing \"shop/templates/broken.yaml\" at <.Values.nope.deeper>: nil pointer evaluating interface {}.deeper\n",
        );
        assert_eq!(
            r,
            "helm template failed: template error at shop/templates/broken.yaml:1:10"
        );
        let r = summarize(
            Tool::Helm,
            Some(1),
            format!("Error: YAML parse error on shop/templates/cm.yaml: error converting YAML to JSON: yaml: line 4: cannot unmarshal !!str `{SECRET}` into int\n").as_bytes(),
        );
        assert_eq!(r, "helm template failed: shop/templates/cm.yaml renders text that is not valid YAML (line 4)");
    }

    #[test]
    fn unknown_errors_keep_only_file_names() {
        let err = format!("error: accumulating resources: accumulation err='accumulating resources from 'db.yaml': invalid env line \"PASSWORD={SECRET}\" in app.env'\n");
        let r = summarize(Tool::Kustomize, Some(1), err.as_bytes());
        assert!(!r.contains(SECRET), "{r}");
        assert!(
            r.contains("exit status 1") && r.contains("db.yaml") && r.contains("app.env"),
            "{r}"
        );
        assert!(r.contains("run `kubectl kustomize`"), "{r}");
        let r = summarize(Tool::Git, None, format!("fatal: {SECRET}").as_bytes());
        assert_eq!(r, "git failed (killed by a signal); its message is not shown because it may quote what it read (run `git` to see it)");
    }

    #[test]
    fn schema_errors_quote_no_value() {
        let err = format!("Error: values don't meet the specifications of the schema(s) in the following chart(s):\nshop:\n- at '/password': '{SECRET}' does not match pattern\n");
        let r = summarize(Tool::Helm, Some(1), err.as_bytes());
        assert!(!r.contains(SECRET));
        assert!(r.contains("values.schema.json"), "{r}");
    }
}
