//! Rendering with the tools users render with: `helm template` for charts and
//! `kubectl kustomize` for Kustomize directories. Without the tool, a chart's values
//! files and a Kustomize directory's files are read as they are, with a note.
use crate::scanner::{Scanner, Source};
use crate::yaml;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Finds a program: the configured one, else on `PATH`.
fn program(configured: &Option<PathBuf>, name: &str) -> Option<PathBuf> {
    if let Some(p) = configured {
        return Some(p.clone());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

pub(crate) fn is_kustomize_dir(dir: &Path) -> bool {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|n| dir.join(n).is_file())
}

/// The first line of a tool's error output that says something.
fn first_error_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no error output")
        .chars()
        .take(300)
        .collect()
}

/// Renders a Kustomize directory; `false` when `kubectl` is not available.
pub(crate) fn kustomize(s: &mut Scanner, dir: &Path) -> bool {
    let shown = dir.display().to_string();
    let Some(kubectl) = program(&s.opts.kubectl, "kubectl") else {
        s.note(format!(
            "{shown}: Kustomize directory read file by file (kubectl not found to render it)"
        ));
        return false;
    };
    let out = match Command::new(&kubectl).arg("kustomize").arg(dir).output() {
        Ok(o) => o,
        Err(e) => {
            s.skip(&shown, format!("cannot run {}: {e}", kubectl.display()));
            return true;
        }
    };
    if !out.status.success() {
        s.skip(
            &shown,
            format!(
                "kubectl kustomize failed: {}",
                first_error_line(&out.stderr)
            ),
        );
        return true;
    }
    let source = Source {
        file: format!("{shown}/kustomization.yaml"),
        has_lines: false,
        committed: true,
    };
    match std::str::from_utf8(&out.stdout) {
        Ok(text) => s.scan_source(&source, text),
        Err(_) => s.skip(&shown, "kubectl kustomize printed text that is not UTF-8"),
    }
    true
}

/// Renders a chart with its values (and the user's `--values`), then scans what it
/// renders, attributing each document to its template; its values files are scanned
/// as configuration.
pub(crate) fn helm_chart(s: &mut Scanner, dir: &Path) {
    let shown = dir.display().to_string();
    scan_values_files(s, dir);
    let Some(helm) = program(&s.opts.helm, "helm") else {
        s.note(format!(
            "{shown}: Helm chart not rendered (helm not found); only its values files were read"
        ));
        return;
    };
    let mut cmd = Command::new(&helm);
    cmd.args(["template", "ksec-scan"]).arg(dir);
    for v in &s.opts.helm_values {
        cmd.arg("--values").arg(v);
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            s.skip(&shown, format!("cannot run {}: {e}", helm.display()));
            return;
        }
    };
    if !out.status.success() {
        s.skip(
            &shown,
            format!("helm template failed: {}", first_error_line(&out.stderr)),
        );
        return;
    }
    let Ok(text) = std::str::from_utf8(&out.stdout) else {
        s.skip(&shown, "helm template printed text that is not UTF-8");
        return;
    };
    let docs = match yaml::parse_stream(text, s.opts.limits) {
        Ok(d) => d,
        Err(e) => {
            s.skip(&shown, format!("rendered chart: {e}"));
            return;
        }
    };
    // `# Source: chart/templates/x.yaml` precedes each rendered document.
    let sources: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter_map(|(n, l)| l.strip_prefix("# Source: ").map(|src| (n + 1, src.trim())))
        .collect();
    for doc in &docs {
        // The document's first node (its `---` line comes before the comment).
        let first = doc.pos("").line;
        let template = sources
            .iter()
            .take_while(|(line, _)| *line < first)
            .last()
            .map(|(_, src)| src.split_once('/').map_or(*src, |(_, rest)| rest))
            .unwrap_or("(rendered)");
        let source = Source {
            file: format!("{shown}/{template}"),
            has_lines: false,
            committed: true,
        };
        s.report.summary.files += 1;
        s.scan_doc(&source, doc);
    }
}

fn scan_values_files(s: &mut Scanner, dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with("values")
                && (n.ends_with(".yaml") || n.ends_with(".yml") || n.ends_with(".json"))
        })
        .collect();
    files.sort();
    for f in files {
        let len = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
        super::walk::scan_file(s, &f, &f.display().to_string(), len);
    }
}
