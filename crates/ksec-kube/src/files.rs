//! Which kubeconfig files count, and their merge, as kubectl (client-go's loading rules)
//! does it: an explicit file must exist and is the only one; otherwise every file listed
//! in `KUBECONFIG` that exists, merged so that the first file to set a value wins;
//! otherwise `~/.kube/config`. Reading and merging each file is kube-rs's
//! (`Kubeconfig::read_from`, `Kubeconfig::merge`), which also makes the paths inside a
//! file relative to that file.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

use crate::error::{Error, Result};

/// A kubeconfig larger than this is refused before it is parsed (real ones are a few KiB;
/// even with hundreds of embedded certificates they stay well under a MiB).
const MAX_KUBECONFIG: u64 = 16 << 20;

/// What the process environment says about where the cluster configuration is.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// The value of `KUBECONFIG` (a list of paths).
    pub kubeconfig: Option<OsString>,
    /// The home directory (`$HOME`), where `.kube/config` is looked for.
    pub home: Option<PathBuf>,
    /// True inside a pod (`KUBERNETES_SERVICE_HOST` is set).
    pub in_cluster: bool,
}

impl Environment {
    /// This process's environment.
    pub fn current() -> Self {
        Self {
            kubeconfig: std::env::var_os("KUBECONFIG"),
            home: std::env::var_os("HOME").map(PathBuf::from),
            in_cluster: std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|h| !h.is_empty()),
        }
    }

    /// Where kubeconfigs are looked for, for messages.
    pub(crate) fn searched(&self) -> String {
        match &self.kubeconfig {
            Some(v) if !v.is_empty() => format!("KUBECONFIG={}", v.to_string_lossy()),
            _ => match &self.home {
                Some(h) => format!(
                    "KUBECONFIG is unset and {} does not exist",
                    default_path(h).display()
                ),
                None => "KUBECONFIG and HOME are unset".to_string(),
            },
        }
    }
}

fn default_path(home: &Path) -> PathBuf {
    home.join(".kube").join("config")
}

/// The kubeconfig files to merge, in order; empty when there are none.
pub(crate) fn kubeconfig_files(explicit: Option<&Path>, env: &Environment) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        // It must exist: reading it reports the error with its name.
        return vec![p.to_path_buf()];
    }
    if let Some(list) = env.kubeconfig.as_ref().filter(|v| !v.is_empty()) {
        let mut files: Vec<PathBuf> = Vec::new();
        for p in std::env::split_paths(list) {
            if !p.as_os_str().is_empty() && p.exists() && !files.contains(&p) {
                files.push(p);
            }
        }
        return files;
    }
    env.home
        .as_deref()
        .map(default_path)
        .filter(|p| p.exists())
        .into_iter()
        .collect()
}

/// Reads and merges `files`.
pub(crate) fn read_merged(files: &[PathBuf]) -> Result<Kubeconfig> {
    let mut merged: Option<Kubeconfig> = None;
    for path in files {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if size > MAX_KUBECONFIG {
            return Err(Error::TooLarge {
                path: path.clone(),
                size,
                limit: MAX_KUBECONFIG,
            });
        }
        let one = Kubeconfig::read_from(path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        merged = Some(match merged {
            None => one,
            Some(m) => m.merge(one).map_err(|source| Error::Merge {
                files: files.to_vec(),
                source,
            })?,
        });
    }
    Ok(merged.unwrap_or_default())
}

/// The name of the context to use: the one asked for, else `current-context`; checked to
/// exist.
pub(crate) fn context_name(
    kubeconfig: &Kubeconfig,
    asked: Option<&str>,
    files: &[PathBuf],
) -> Result<String> {
    let name = asked
        .filter(|c| !c.is_empty())
        .or(kubeconfig
            .current_context
            .as_deref()
            .filter(|c| !c.is_empty()))
        .ok_or_else(|| Error::NoCurrentContext {
            files: files.to_vec(),
        })?;
    if !kubeconfig.contexts.iter().any(|c| c.name == name) {
        return Err(Error::UnknownContext {
            context: name.to_string(),
            files: files.to_vec(),
            known: kubeconfig.contexts.iter().map(|c| c.name.clone()).collect(),
        });
    }
    Ok(name.to_string())
}

/// The namespace a context sets, if any.
pub(crate) fn context_namespace(kubeconfig: &Kubeconfig, context: &str) -> Option<String> {
    kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.namespace.clone())
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const A: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://a.example:6443'}\ncontexts:\n- name: a\n  context: {cluster: c, namespace: team-a}\n- name: shared\n  context: {cluster: c, namespace: from-a}\nusers: []\n";
    const B: &str = "apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters:\n- name: c\n  cluster: {server: 'https://b.example:6443'}\ncontexts:\n- name: b\n  context: {cluster: c}\n- name: shared\n  context: {cluster: c, namespace: from-b}\nusers: []\n";

    #[test]
    fn kubeconfig_lists_skip_missing_files_and_the_first_value_wins() {
        let dir = tempfile_dir();
        let a = write(dir.path(), "a", A);
        let b = write(dir.path(), "b", B);
        let missing = dir.path().join("missing");
        let env = Environment {
            kubeconfig: Some(std::env::join_paths([&missing, &a, &b, &a]).unwrap()),
            home: None,
            in_cluster: false,
        };
        let files = kubeconfig_files(None, &env);
        assert_eq!(files, [a.clone(), b.clone()]);
        let merged = read_merged(&files).unwrap();
        // A sets no current-context, so B's counts; clusters named alike: A's wins.
        assert_eq!(context_name(&merged, None, &files).unwrap(), "b");
        assert_eq!(
            merged.clusters[0]
                .cluster
                .as_ref()
                .unwrap()
                .server
                .as_deref(),
            Some("https://a.example:6443")
        );
        assert_eq!(
            context_namespace(&merged, "shared").as_deref(),
            Some("from-a")
        );
        assert_eq!(context_namespace(&merged, "b"), None);
        let err = context_name(&merged, Some("nope"), &files).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("\"nope\"") && msg.contains("a, shared, b"),
            "{msg}"
        );
        assert!(msg.contains(&a.display().to_string()), "{msg}");
    }

    #[test]
    fn an_explicit_file_is_the_only_one_and_home_is_the_fallback() {
        let dir = tempfile_dir();
        let a = write(dir.path(), "a", A);
        std::fs::create_dir_all(dir.path().join(".kube")).unwrap();
        let home_config = write(&dir.path().join(".kube"), "config", B);
        let env = Environment {
            kubeconfig: None,
            home: Some(dir.path().to_path_buf()),
            in_cluster: false,
        };
        assert_eq!(kubeconfig_files(Some(&a), &env), [a]);
        assert_eq!(kubeconfig_files(None, &env), [home_config]);
        let empty = Environment {
            kubeconfig: Some(OsString::new()),
            home: Some(dir.path().join("elsewhere")),
            in_cluster: false,
        };
        assert!(kubeconfig_files(None, &empty).is_empty());
        assert!(empty
            .searched()
            .contains("elsewhere/.kube/config does not exist"));
        let err = read_merged(&[dir.path().join("gone")]).unwrap_err();
        assert!(matches!(err, Error::Read { .. }), "{err}");
        assert!(err.to_string().contains("gone"), "{err}");
    }

    #[test]
    fn no_current_context_is_an_error_naming_the_files() {
        let dir = tempfile_dir();
        let a = write(dir.path(), "a", A);
        let merged = read_merged(std::slice::from_ref(&a)).unwrap();
        let err = context_name(&merged, None, std::slice::from_ref(&a)).unwrap_err();
        assert!(matches!(err, Error::NoCurrentContext { .. }));
        assert!(err.to_string().contains(&a.display().to_string()));
        assert_eq!(context_name(&merged, Some("a"), &[a]).unwrap(), "a");
    }

    fn tempfile_dir() -> tempfile::TempDir {
        ksec_testkit::tempdir()
    }
}
