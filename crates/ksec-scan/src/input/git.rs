//! Git history: every version of a manifest, values or dotenv file that was ever
//! committed on any ref and is no longer in `HEAD`, read with the `git` program. A
//! Secret committed and deleted later is still in every clone.
use crate::scanner::{Scanner, Source};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
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

pub(crate) fn scan_history(s: &mut Scanner, path: &Path) {
    let shown = path.display().to_string();
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    let top = match git(dir).args(["rev-parse", "--show-toplevel"]).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(_) => {
            s.note(format!(
                "{shown}: not in a git repository; no history scanned"
            ));
            return;
        }
        Err(e) => {
            s.skip(&shown, format!("cannot run git: {e}"));
            return;
        }
    };
    let top = Path::new(&top);
    // Blobs in HEAD are scanned as files already.
    let mut current: HashSet<String> = HashSet::new();
    if let Ok(o) = git(top).args(["ls-tree", "-r", "HEAD"]).output() {
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            if let Some(id) = line.split_whitespace().nth(2) {
                current.insert(id.to_string());
            }
        }
    }
    let log = match git(top)
        .args([
            "log",
            "--all",
            "--no-renames",
            "--diff-filter=AM",
            "--raw",
            "--no-abbrev",
            "--format=commit %H",
        ])
        .output()
    {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => {
            s.skip(
                &shown,
                format!(
                    "git log failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .next()
                        .unwrap_or("")
                ),
            );
            return;
        }
        Err(e) => {
            s.skip(&shown, format!("cannot run git: {e}"));
            return;
        }
    };
    // blob → (path, the oldest commit that wrote it: log runs newest first)
    let mut blobs: HashMap<String, (String, String)> = HashMap::new();
    let mut order: Vec<String> = vec![];
    let mut commit = String::new();
    for line in String::from_utf8_lossy(&log).lines() {
        if let Some(c) = line.strip_prefix("commit ") {
            commit = c.to_string();
        } else if let Some(raw) = line.strip_prefix(':') {
            let Some((meta, file)) = raw.split_once('\t') else {
                continue;
            };
            let Some(blob) = meta.split_whitespace().nth(3) else {
                continue;
            };
            if !candidate(file) || current.contains(blob) {
                continue;
            }
            if !blobs.contains_key(blob) {
                order.push(blob.to_string());
            }
            blobs.insert(blob.to_string(), (file.to_string(), commit.clone()));
        }
    }
    if order.is_empty() {
        return;
    }
    let mut child = match git(top)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            s.skip(&shown, format!("cannot run git cat-file: {e}"));
            return;
        }
    };
    let mut stdin = child.stdin.take();
    let ids = order.clone();
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
    let Some(stdout) = child.stdout.take() else {
        return;
    };
    let mut r = BufReader::new(stdout);
    let mut scanned = 0usize;
    for id in &order {
        let mut header = String::new();
        if r.read_line(&mut header).unwrap_or(0) == 0 {
            break;
        }
        let size: u64 = header
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let mut content = Vec::new();
        if (&mut r).take(size).read_to_end(&mut content).is_err() {
            break;
        }
        let mut nl = [0u8; 1];
        let _ = r.read_exact(&mut nl);
        let (file, commit) = &blobs[id];
        let short = &commit[..commit.len().min(12)];
        let name = format!("{file}@{short}");
        if size > s.opts.max_file_size {
            s.skip(
                name,
                format!(
                    "blob of {size} bytes is larger than the {}-byte limit",
                    s.opts.max_file_size
                ),
            );
            continue;
        }
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
    let _ = writer.join();
    let _ = child.wait();
    s.note(format!("{shown}: {scanned} file version(s) from git history that are no longer in HEAD were scanned"));
}
