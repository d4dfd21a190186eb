use crate::finding::Report;
use std::fmt::Write;

/// Findings grouped by file, one line each, then what was skipped and a summary.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let mut file: Option<&str> = None;
    for f in &report.findings {
        if file != Some(f.file.as_str()) {
            if file.is_some() {
                out.push('\n');
            }
            let _ = writeln!(out, "{}", f.file);
            file = Some(&f.file);
        }
        let line = if f.line > 0 {
            format!("{}:{}", f.line, f.column)
        } else {
            "-".into()
        };
        let object = match (&f.namespace, f.kind.is_empty()) {
            (_, true) => String::new(),
            (Some(ns), false) => format!("{} {}/{} ", f.kind, ns, f.name),
            (None, false) => format!("{} {} ", f.kind, f.name),
        };
        let controls = if f.controls.is_empty() {
            String::new()
        } else {
            format!(" [{}]", f.controls.join(","))
        };
        let _ = writeln!(
            out,
            "  {line:<8} {:<6} {}{controls}  {object}{}: {}",
            f.severity.as_str().to_uppercase(),
            f.rule,
            f.path,
            f.message
        );
    }
    if !report.skipped.is_empty() {
        out.push_str("\nskipped:\n");
        for s in &report.skipped {
            let _ = writeln!(out, "  {}: {}", s.file, s.reason);
        }
    }
    for n in &report.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{} file(s), {} object(s): {} high, {} medium, {} low, {} info; {} baselined, {} ignored by annotation, {} skipped",
        s.files, s.objects, s.high, s.medium, s.low, s.info, s.baselined, s.ignored, s.skipped
    );
    out
}
