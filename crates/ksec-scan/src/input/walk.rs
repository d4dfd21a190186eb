//! Walking files and directories. Every directory is visited once (by device and
//! inode), so symlink loops end; files that are too large, binary or not UTF-8 are
//! reported and skipped.
use crate::scanner::{Scanner, Source};
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const MAX_DEPTH: usize = 64;

/// Extensions read when walking a directory (a file named on the command line is
/// read whatever its name).
fn is_candidate(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    matches!(ext, "yaml" | "yml" | "json") || super::dotenv::is_dotenv_name(name)
}

pub(crate) fn scan_path(s: &mut Scanner, path: &Path) {
    let mut visited = HashSet::new();
    visit(s, path, &mut visited, 0, true);
}

fn visit(
    s: &mut Scanner,
    path: &Path,
    visited: &mut HashSet<(u64, u64)>,
    depth: usize,
    explicit: bool,
) {
    let shown = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            let reason = if std::fs::symlink_metadata(path).is_ok() {
                format!("broken symbolic link or unreadable target: {e}")
            } else {
                e.to_string()
            };
            s.skip(shown, reason);
            return;
        }
    };
    if meta.is_dir() {
        if !visited.insert((meta.dev(), meta.ino())) {
            s.skip(shown, "directory already visited through another path (symbolic link loop); not read again");
            return;
        }
        if depth > MAX_DEPTH {
            s.skip(
                shown,
                format!("more than {MAX_DEPTH} directory levels deep; not read"),
            );
            return;
        }
        if path.join("Chart.yaml").is_file() {
            super::render::helm_chart(s, path);
            return;
        }
        if super::render::is_kustomize_dir(path) && super::render::kustomize(s, path) {
            return;
        }
        let mut entries: Vec<_> = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
            Err(e) => {
                s.skip(shown, e.to_string());
                return;
            }
        };
        entries.sort();
        for e in entries {
            if e.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            visit(s, &e, visited, depth + 1, false);
        }
    } else if meta.is_file() {
        if !explicit && !is_candidate(path) {
            return;
        }
        scan_file(s, path, &shown, meta.len());
    }
}

/// Reads one file within the size bound and scans it.
pub(crate) fn scan_file(s: &mut Scanner, path: &Path, shown: &str, len: u64) {
    if len > s.opts.max_file_size {
        s.skip(
            shown,
            format!(
                "file of {len} bytes is larger than the {}-byte limit; not read",
                s.opts.max_file_size
            ),
        );
        return;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            s.skip(shown, e.to_string());
            return;
        }
    };
    let Some(text) = text_of(&bytes) else {
        s.skip(shown, "binary file (NUL bytes or not UTF-8); not read");
        return;
    };
    let source = Source {
        file: shown.to_string(),
        has_lines: true,
        committed: true,
    };
    s.scan_source(&source, text);
}

/// The text of a file, or `None` when it is binary.
pub(crate) fn text_of(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    let t = std::str::from_utf8(bytes).ok()?;
    Some(t.strip_prefix('\u{feff}').unwrap_or(t))
}
