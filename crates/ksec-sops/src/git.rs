//! Git's view of SOPS files: which files a repository's `.gitattributes`
//! should hand to a diff/merge driver (derived from the `.sops.yaml` creation
//! rules), the lines that select them, and what the diff driver (textconv)
//! shows. The merge driver's core is [`crate::merge`].
//!
//! ```
//! use ksec_sops::git::add_attributes;
//!
//! let (text, added) = add_attributes("*.png binary", &["secrets/**".into()], "ksec-sops");
//! assert_eq!(text, "*.png binary\nsecrets/** diff=ksec-sops merge=ksec-sops\n");
//! assert_eq!(added, ["secrets/** diff=ksec-sops merge=ksec-sops"]);
//! // Running it again adds nothing.
//! assert!(add_attributes(&text, &["secrets/**".into()], "ksec-sops").1.is_empty());
//! ```
use crate::{Config, EmitOptions, Error, Format, Keyring, LockedFile, MacCheck, PathGlob};
use std::path::Path;
use zeroize::Zeroizing;

/// `.gitattributes` globs, relative to the repository `root`, for the files
/// the creation rules of `config` select (a config below the root prefixes its
/// folder). Fails with [`Error::PathRuleNotGlob`] when a rule's `path_regex`
/// does not reduce to a glob (or a rule has none), and with
/// [`Error::NoCreationRules`] when there are no rules.
pub fn gitattributes_globs(config: &Config, root: &Path) -> Result<Vec<String>, Error> {
    let canonical = |p: &Path| std::fs::canonicalize(p).map_err(|e| Error::io("read", p, e));
    let dir = config
        .path
        .parent()
        .map(|p| {
            canonical(if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            })
        })
        .transpose()?
        .unwrap_or_else(|| root.to_path_buf());
    let root = canonical(root)?;
    let prefix = dir
        .strip_prefix(&root)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (rule, g) in config.path_globs().into_iter().enumerate() {
        let not_glob = |path_regex| Error::PathRuleNotGlob {
            config: config.path.clone(),
            rule,
            path_regex,
        };
        let glob = match g {
            PathGlob::Glob(glob) => glob,
            PathGlob::Regex(re) => return Err(not_glob(Some(re))),
            PathGlob::EveryFile => return Err(not_glob(None)),
        };
        out.push(if prefix.is_empty() {
            glob
        } else if let Some(exact) = glob.strip_prefix('/') {
            format!("{prefix}/{exact}")
        } else if glob.contains('/') {
            format!("{prefix}/{glob}")
        } else {
            format!("{prefix}/**/{glob}")
        });
    }
    if out.is_empty() {
        return Err(Error::NoCreationRules {
            config: config.path.clone(),
        });
    }
    Ok(out)
}

/// `.gitattributes` text with a `GLOB diff=DRIVER merge=DRIVER` line for each
/// of `globs` that it does not have yet, and the lines added.
pub fn add_attributes(text: &str, globs: &[String], driver: &str) -> (String, Vec<String>) {
    let mut text = text.to_string();
    let mut added = Vec::new();
    for g in globs {
        let line = format!("{g} diff={driver} merge={driver}");
        if !text.lines().any(|l| l.trim() == line) {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&line);
            text.push('\n');
            added.push(line);
        }
    }
    (text, added)
}

/// What git's diff driver shows for a file: its plaintext when `keys` open it
/// (MAC verified), else `None`: the file is shown as it is (also a file that is
/// not a SOPS file).
pub fn textconv(input: &[u8], format: Format, keys: &Keyring) -> Option<Zeroizing<Vec<u8>>> {
    LockedFile::parse(input, format)
        .and_then(|l| l.open(keys, MacCheck::Verify))
        .and_then(|o| o.to_plaintext(format, &EmitOptions::default()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, text: &str) -> Config {
        let path = dir.join(".sops.yaml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap()
    }

    #[test]
    fn globs_follow_the_config_folder() {
        let root = tempfile::tempdir().unwrap();
        let sub = root.path().join("deploy");
        std::fs::create_dir(&sub).unwrap();
        let age = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
        let rules = format!(
            "creation_rules:\n  - path_regex: ^secrets/\n    age: {age}\n  - path_regex: \\.enc\\.yaml$\n    age: {age}\n"
        );
        let top = config(root.path(), &rules);
        assert_eq!(
            gitattributes_globs(&top, root.path()).unwrap(),
            ["secrets/**", "*.enc.yaml"]
        );
        let below = config(&sub, &rules);
        assert_eq!(
            gitattributes_globs(&below, root.path()).unwrap(),
            ["deploy/secrets/**", "deploy/**/*.enc.yaml"]
        );
    }

    #[test]
    fn rules_that_are_not_globs_are_named() {
        let root = tempfile::tempdir().unwrap();
        let age = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
        let c = config(
            root.path(),
            &format!("creation_rules:\n  - path_regex: (dev|prod)/.*\n    age: {age}\n"),
        );
        let e = gitattributes_globs(&c, root.path()).unwrap_err();
        assert!(
            matches!(&e, Error::PathRuleNotGlob { rule: 0, path_regex: Some(re), .. } if re == "(dev|prod)/.*"),
            "{e:?}"
        );
        let c = config(root.path(), &format!("creation_rules:\n  - age: {age}\n"));
        let e = gitattributes_globs(&c, root.path()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("creation_rules[0] has no path_regex (it matches every file)"),
            "{e}"
        );
        let c = config(root.path(), "stores: {}\n");
        assert!(matches!(
            gitattributes_globs(&c, root.path()),
            Err(Error::NoCreationRules { .. })
        ));
    }

    #[test]
    fn attributes_are_added_once_after_a_newline() {
        let (text, added) = add_attributes("", &["a/**".into(), "*.x".into()], "d");
        assert_eq!(text, "a/** diff=d merge=d\n*.x diff=d merge=d\n");
        assert_eq!(added.len(), 2);
        let (again, added) = add_attributes(&text, &["*.x".into()], "d");
        assert_eq!((again.as_str(), added.len()), (text.as_str(), 0));
    }

    #[test]
    fn textconv_shows_what_it_cannot_open_as_it_is() {
        let keys = Keyring::new(Vec::new());
        assert!(textconv(b"a: 1\n", Format::Yaml, &keys).is_none());
    }
}
