use crate::finding::Report;

/// The report as JSON: `{"findings": […], "skipped": […], "notes": […], "summary": {…}}`.
pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
    s.push('\n');
    s
}
