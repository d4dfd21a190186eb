//! Which files of a folder a batch works on, with the real `git` deciding what
//! it ignores, and when plaintext written there could be committed.
use ksec_sops::batch::{exposed_to_git, files_under};
use ksec_sops::Config;
use ksec_testkit::git;
use std::path::PathBuf;

/// A folder with files in it (names relative to it; folders made as needed).
fn tree(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("ksec-sops-batch")
        .tempdir()
        .unwrap();
    for name in names {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "a: 1\n").unwrap();
    }
    dir
}

fn paths(names: &[&str]) -> Vec<PathBuf> {
    names.iter().map(PathBuf::from).collect()
}

#[test]
fn a_work_tree_is_listed_by_git() {
    if ksec_testkit::peer("git").is_none() {
        return;
    }
    let dir = tree(&[
        "b.yaml",
        "a/x.yaml",
        "ignored/y.yaml",
        "skip.log",
        ".sops.yml",
    ]);
    std::fs::write(dir.path().join(".gitignore"), "ignored/\n*.log\n").unwrap();
    git(dir.path(), &["init", "-q", "."]);
    git(dir.path(), &["add", "b.yaml"]);
    // Tracked and untracked files alike; nothing git ignores; no .sops.yml.
    assert_eq!(
        files_under(dir.path(), None).unwrap(),
        paths(&[".gitignore", "a/x.yaml", "b.yaml"])
    );
    // A sub-folder of the work tree: names relative to it.
    assert_eq!(
        files_under(&dir.path().join("a"), None).unwrap(),
        paths(&["x.yaml"])
    );
}

#[test]
fn outside_git_every_file_is_walked_and_path_rules_filter() {
    // An empty `.git` folder is no repository: git declines, the walk leaves it out.
    let dir = tree(&[
        "secrets/a.yaml",
        "secrets/deep/b.yaml",
        "app/c.yaml",
        ".git/d",
    ]);
    std::fs::write(dir.path().join(".sops.yaml"), "creation_rules: []\n").unwrap();
    assert_eq!(
        files_under(dir.path(), None).unwrap(),
        paths(&["app/c.yaml", "secrets/a.yaml", "secrets/deep/b.yaml"])
    );
    let config = Config::parse(
        &dir.path().join(".sops.yaml"),
        b"creation_rules:\n  - path_regex: ^secrets/\n    age: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n",
    )
    .unwrap();
    assert_eq!(
        files_under(dir.path(), Some(&config)).unwrap(),
        paths(&["secrets/a.yaml", "secrets/deep/b.yaml"])
    );
}

#[test]
fn a_missing_folder_is_named() {
    let dir = tree(&[]);
    let gone = dir.path().join("gone");
    let e = files_under(&gone, None).unwrap_err();
    assert!(e.to_string().contains(&gone.display().to_string()), "{e}");
}

#[test]
fn plaintext_is_exposed_only_in_a_work_tree_and_not_ignored() {
    if ksec_testkit::peer("git").is_none() {
        return;
    }
    let dir = tree(&["plain/a.yaml", "ignored/b.yaml"]);
    assert!(!exposed_to_git(&dir.path().join("plain")));
    git(dir.path(), &["init", "-q", "."]);
    std::fs::write(dir.path().join(".gitignore"), "ignored/\n").unwrap();
    assert!(exposed_to_git(&dir.path().join("plain")));
    assert!(exposed_to_git(&dir.path().join("plain/a.yaml")));
    assert!(!exposed_to_git(&dir.path().join("ignored")));
    assert!(!exposed_to_git(&dir.path().join("ignored/b.yaml")));
}
