//! Many files at once (a tree of 200 SOPS files, one corrupted, one ignored by
//! git) and quiet re-encryption (`set`, `edit` and `unset` keep every other
//! ciphertext).
use super::{code, env, Env};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn encrypt_with(e: &Env, name: &str, plain: &str) -> Vec<u8> {
    let p = e.encrypt(name, plain);
    std::fs::read(p).unwrap()
}

/// A tree of 200 SOPS files in three formats across nested folders, a file
/// that is not a SOPS file, and one corrupted file; returns the tree, the
/// corrupted file's path (relative), and the expected plaintext by format.
fn tree(e: &Env) -> (PathBuf, PathBuf, BTreeMap<&'static str, &'static str>) {
    let plain = BTreeMap::from([
        ("yaml", "name: svc\npassword: s3cret-yaml\n"),
        ("json", "{\n\t\"password\": \"s3cret-json\"\n}\n"),
        ("env", "PASSWORD=s3cret-env\n"),
    ]);
    let enc: BTreeMap<&str, Vec<u8>> = plain
        .iter()
        .map(|(ext, p)| (*ext, encrypt_with(e, &format!("one.{ext}"), p)))
        .collect();
    let root = e.dir.path().join("tree");
    let exts = ["yaml", "json", "env"];
    for i in 0..200 {
        let dir = root.join(format!("team{}/app{}", i % 4, i % 7));
        std::fs::create_dir_all(&dir).unwrap();
        let ext = exts[i % 3];
        std::fs::write(dir.join(format!("s{i}.{ext}")), &enc[ext]).unwrap();
    }
    std::fs::write(root.join("README.md"), "not a secret\n").unwrap();
    // One damaged ciphertext: its value no longer authenticates.
    let broken = PathBuf::from("team1/app5/s33.yaml");
    let text = std::fs::read_to_string(root.join(&broken)).unwrap();
    let at = text.find("password: ENC[AES256_GCM,data:").unwrap() + 31;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(root.join(&broken), bytes).unwrap();
    (root, broken, plain)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn two_hundred_files_one_corrupted() {
    let Some(e) = env() else { return };
    let (root, broken, plain) = tree(&e);
    let before_broken = std::fs::read(root.join(&broken)).unwrap();

    // A directory needs somewhere to put plaintext.
    let o = e
        .ksec()
        .args(["sops", "decrypt"])
        .arg(&root)
        .output()
        .unwrap();
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("--output-dir"), "{}", stderr(&o));

    let out = e.dir.path().join("plain");
    let o = e
        .ksec()
        .args(["sops", "decrypt", "--output-dir"])
        .arg(&out)
        .arg(&root)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(
        err.contains("199 changed") && err.contains("1 skipped") && err.contains("1 failed"),
        "{err}"
    );
    assert!(
        err.contains(&format!("failed: {}", root.join(&broken).display())),
        "the summary names the broken file: {err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    let written = files_under(&out);
    assert_eq!(written.len(), 199);
    assert!(!out.join(&broken).exists());
    for f in &written {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
        let ext = f.extension().unwrap().to_str().unwrap();
        assert_eq!(
            std::fs::read_to_string(f).unwrap(),
            plain[ext],
            "{}",
            f.display()
        );
    }

    // rotate -i: every file but the broken one gets a new data key; the broken
    // one is left exactly as it was.
    let sample = root.join("team0/app0/s0.yaml");
    let before = std::fs::read_to_string(&sample).unwrap();
    let o = e
        .ksec()
        .args(["sops", "rotate", "-i"])
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("199 changed"), "{}", stderr(&o));
    assert_ne!(std::fs::read_to_string(&sample).unwrap(), before);
    assert_eq!(std::fs::read(root.join(&broken)).unwrap(), before_broken);
    if let Some(o) = e.real_sops(&["decrypt", sample.to_str().unwrap()]) {
        assert_eq!(String::from_utf8_lossy(&o.stdout), plain["yaml"]);
    }

    // filestatus: one line per file.
    let o = e
        .ksec()
        .args(["sops", "filestatus"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(o.status.success());
    let lines = String::from_utf8_lossy(&o.stdout);
    assert_eq!(lines.lines().count(), 201);
    assert_eq!(lines.matches("\"encrypted\":true").count(), 200);
}

#[test]
fn a_git_work_tree_is_honoured() {
    let Some(e) = env() else { return };
    if ksec_testkit::peer("git").is_none() {
        return;
    }
    let (root, broken, _) = tree(&e);
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(args)
            .env("HOME", e.dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}");
    };
    git(&["init", "-q", "."]);
    // The broken file's folder is ignored, and so is the output folder.
    std::fs::write(root.join(".gitignore"), "team1/app5/\nplain/\n").unwrap();
    let o = e
        .ksec()
        .args(["sops", "decrypt", "--output-dir"])
        .arg(root.join("plain"))
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    assert!(!root.join("plain").join(&broken).exists());
    // Plaintext into the work tree, not ignored: a warning.
    let o = e
        .ksec()
        .args(["sops", "decrypt", "--output-dir"])
        .arg(root.join("visible"))
        .arg(root.join("team0"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("inside a git work tree and not ignored"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn set_keeps_every_other_ciphertext() {
    let Some(e) = env() else { return };
    let f = e.encrypt(
        "quiet.yaml",
        "a: one\nb: two\nnested:\n    c: 3\n    list:\n        - x\n        - true\n# a comment\nd: 4.5\n",
    );
    let before = std::fs::read_to_string(&f).unwrap();
    let o = e
        .ksec()
        .args(["sops", "set"])
        .arg(&f)
        .args(["[\"b\"]", "\"changed\""])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let after = std::fs::read_to_string(&f).unwrap();
    let values = |t: &str| -> Vec<String> {
        t.lines()
            .take_while(|l| !l.starts_with("sops:"))
            .map(str::to_string)
            .collect()
    };
    let (b, a) = (values(&before), values(&after));
    assert_eq!(b.len(), a.len());
    let changed: Vec<_> = b.iter().zip(&a).filter(|(x, y)| x != y).collect();
    assert_eq!(changed.len(), 1, "only b's ciphertext changes: {changed:?}");
    assert!(changed[0].0.starts_with("b: ENC["));
    if let Some(o) = e.real_sops(&["decrypt", f.to_str().unwrap()]) {
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "a: one\nb: changed\nnested:\n    c: 3\n    list:\n        - x\n        - true\n# a comment\nd: 4.5\n",
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// `edit` of one value and `unset` of another keep every other value's
/// ciphertext byte for byte (the stash of IVs), and sops still opens the file
/// (its MAC and `lastmodified` were written again).
#[test]
fn edit_and_unset_keep_every_other_ciphertext() {
    let Some(e) = env() else { return };
    let f = e.encrypt(
        "quiet2.yaml",
        "a: one\nb: two\nnested:\n    c: 3\n    list:\n        - x\n        - true\n# a comment\nd: 4.5\n",
    );
    let values = |t: &str| -> Vec<String> {
        t.lines()
            .take_while(|l| !l.starts_with("sops:"))
            .map(str::to_string)
            .collect()
    };
    let field = |t: &str, name: &str| -> String {
        t.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_default()
            .to_string()
    };
    let before = std::fs::read_to_string(&f).unwrap();
    let o = e
        .ksec()
        .env("SOPS_EDITOR", "sed -i s/two/deux/")
        .args(["sops", "edit"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let edited = std::fs::read_to_string(&f).unwrap();
    let (b, a) = (values(&before), values(&edited));
    assert_eq!(b.len(), a.len());
    let changed: Vec<_> = b.iter().zip(&a).filter(|(x, y)| x != y).collect();
    assert_eq!(changed.len(), 1, "only b's ciphertext changes: {changed:?}");
    assert!(changed[0].0.starts_with("b: ENC["));
    assert_ne!(field(&before, "mac:"), field(&edited, "mac:"));

    let o = e
        .ksec()
        .args(["sops", "unset"])
        .arg(&f)
        .arg("[\"nested\"][\"c\"]")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let unset = std::fs::read_to_string(&f).unwrap();
    let kept: Vec<_> = values(&edited)
        .into_iter()
        .filter(|l| !l.trim_start().starts_with("c: ENC["))
        .collect();
    assert_eq!(values(&unset), kept, "unset touches no other ciphertext");
    assert_ne!(field(&edited, "mac:"), field(&unset, "mac:"));
    if let Some(o) = e.real_sops(&["decrypt", f.to_str().unwrap()]) {
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "a: one\nb: deux\nnested:\n    list:\n        - x\n        - true\n# a comment\nd: 4.5\n",
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
