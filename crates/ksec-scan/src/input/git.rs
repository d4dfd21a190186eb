//! Git history: every version of a manifest, values or dotenv file that was ever
//! committed on any ref and is no longer in `HEAD`, read with the `git` program. A
//! Secret committed and deleted later is still in every clone.
//!
//! Memory: `git`'s output is streamed, never held whole; what stays until the blobs are
//! read is one 16-byte key per blob of `HEAD` and, per old version of a candidate file,
//! its blob id, path and commit. Blob contents are read one at a time.
use super::process::{self, Failure};
use super::tool_error::{summarize, Tool};
use crate::scanner::{Scanner, Source};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn git(repo: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(repo).args(["-c", "core.quotepath=off"]);
    c
}

fn candidate(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    [".yaml", ".yml", ".json"].iter().any(|e| base.ends_with(e))
        || crate::input::dotenv::is_dotenv_name(base)
}

/// A blob id as a 128-bit key (its first 32 hex digits): compact for large trees, and
/// collisions are out of reach.
fn key(id: &str) -> Option<u128> {
    u128::from_str_radix(id.get(..32)?, 16).ok()
}

/// One old version of a file: its blob, path and the oldest commit that wrote it.
struct Version {
    blob: String,
    file: String,
    commit: String,
}

pub(crate) fn scan_history(s: &mut Scanner, path: &Path) {
    let shown = path.display().to_string();
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    let limit = s.opts.tool_timeout;
    let mut cmd = git(dir);
    cmd.args(["rev-parse", "--show-toplevel"]);
    let top = match process::run(cmd, limit, 64 * 1024) {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(_) => {
            s.note(format!(
                "{shown}: not in a git repository; no history scanned"
            ));
            return;
        }
        Err(f) => {
            s.skip(&shown, f.describe("git rev-parse", Path::new("git")));
            return;
        }
    };
    let top = PathBuf::from(top);
    // Blobs in HEAD are scanned as files already.
    let mut current: HashSet<u128> = HashSet::new();
    let mut cmd = git(&top);
    cmd.args(["ls-tree", "-r", "HEAD"]);
    let listed = process::each_line(cmd, limit, |line| {
        if let Some(k) = line.split_whitespace().nth(2).and_then(key) {
            current.insert(k);
        }
    });
    if let Err(f) = listed {
        s.skip(&shown, f.describe("git ls-tree", Path::new("git")));
        return;
    }
    // Old versions in the order first seen; the log runs newest first, so the commit
    // kept is the oldest that wrote the blob.
    let mut versions: Vec<Version> = vec![];
    let mut index: HashMap<u128, usize> = HashMap::new();
    let mut commit = String::new();
    let mut cmd = git(&top);
    cmd.args([
        "log",
        "--all",
        "--no-renames",
        "--diff-filter=AM",
        "--raw",
        "--no-abbrev",
        "--format=commit %H",
    ]);
    let logged = process::each_line(cmd, limit, |line| {
        if let Some(c) = line.strip_prefix("commit ") {
            commit = c.to_string();
        } else if let Some(raw) = line.strip_prefix(':') {
            let Some((meta, file)) = raw.split_once('\t') else {
                return;
            };
            let Some(blob) = meta.split_whitespace().nth(3) else {
                return;
            };
            let Some(k) = key(blob) else {
                return;
            };
            if !candidate(file) || current.contains(&k) {
                return;
            }
            let v = Version {
                blob: blob.to_string(),
                file: file.to_string(),
                commit: commit.clone(),
            };
            match index.get(&k) {
                Some(&i) => versions[i] = v,
                None => {
                    index.insert(k, versions.len());
                    versions.push(v);
                }
            }
        }
    });
    drop(current);
    drop(index);
    match logged {
        Ok((status, _)) if status.success() => {}
        Ok((status, stderr)) => {
            s.skip(&shown, summarize(Tool::Git, status.code(), &stderr));
            return;
        }
        Err(f) => {
            s.skip(&shown, f.describe("git log", Path::new("git")));
            return;
        }
    }
    if versions.is_empty() {
        return;
    }
    read_blobs(s, &top, &shown, &versions);
}

/// Reads the blobs through one `git cat-file --batch` and scans each.
fn read_blobs(s: &mut Scanner, top: &Path, shown: &str, versions: &[Version]) {
    let mut cmd = git(top);
    cmd.args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = match process::spawn(&mut cmd, s.opts.tool_timeout) {
        Ok(c) => c,
        Err(e) => {
            s.skip(shown, format!("cannot run git cat-file: {e}"));
            return;
        }
    };
    let mut stdin = child.stdin();
    let ids: Vec<String> = versions.iter().map(|v| v.blob.clone()).collect();
    let writer = std::thread::spawn(move || {
        if let Some(w) = stdin.as_mut() {
            for id in ids {
                if writeln!(w, "{id}").is_err() {
                    break;
                }
            }
        }
        drop(stdin);
    });
    let Some(stdout) = child.stdout() else {
        return;
    };
    let mut r = BufReader::new(stdout);
    let mut scanned = 0usize;
    for v in versions {
        let mut header = String::new();
        if r.read_line(&mut header).unwrap_or(0) == 0 {
            break;
        }
        let size: u64 = header
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let short = &v.commit[..v.commit.len().min(12)];
        let name = format!("{}@{short}", v.file);
        if size > s.opts.max_file_size {
            // Read past it without holding it.
            if std::io::copy(&mut (&mut r).take(size + 1), &mut std::io::sink()).is_err() {
                break;
            }
            s.skip(
                name,
                format!(
                    "blob of {size} bytes is larger than the {}-byte limit",
                    s.opts.max_file_size
                ),
            );
            continue;
        }
        let mut content = Vec::new();
        if (&mut r).take(size).read_to_end(&mut content).is_err() {
            break;
        }
        let mut nl = [0u8; 1];
        let _ = r.read_exact(&mut nl);
        let Some(text) = super::walk::text_of(&content) else {
            continue;
        };
        let source = Source {
            file: name,
            has_lines: true,
            committed: true,
        };
        s.scan_source(&source, text);
        scanned += 1;
    }
    drop(r);
    let _ = writer.join();
    if let Err(f @ Failure::TimedOut(_)) = child.finish() {
        s.skip(shown, f.describe("git cat-file", Path::new("git")));
    }
    s.note(format!("{shown}: {scanned} file version(s) from git history that are no longer in HEAD were scanned"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_keys_need_32_hex_digits() {
        assert_eq!(
            key("0123456789abcdef0123456789abcdef01234567"),
            Some(0x0123456789abcdef0123456789abcdef)
        );
        assert_eq!(key("abc"), None);
        assert_eq!(key("zz23456789abcdef0123456789abcdef01234567"), None);
    }
}
