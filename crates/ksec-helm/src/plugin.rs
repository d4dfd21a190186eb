//! The two Helm plugins ksec installs, and finding Helm.
//!
//! Both are legacy-format plugins (`plugin.yaml` without `apiVersion`), the one format
//! Helm 3 and Helm 4 both load: Helm 4 turns a legacy plugin that declares
//! downloaders into a getter-only plugin, so the command and the downloaders live in
//! two plugins, `secrets` and `secrets-getter` (helm-secrets' names); and a Helm
//! 4-format manifest in Helm 3's plugin folder breaks Helm 3's plugin loading, so
//! none is written.
//!
//! Helm runs a downloader as `PLUGIN_DIR/<first word of command> <other words> CERT
//! KEY CA URL`, so each plugin folder holds `ksec`, a link to the ksec binary (a hard
//! link or a copy where a symbolic link cannot be made), and the commands are
//! `ksec helm downloader` and `$HELM_PLUGIN_DIR/ksec helm secrets`: the arguments
//! Helm passes select the mode, with no shell script in between.
use crate::error::{Error, Result};
use crate::url::Protocol;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The plugins ksec installs: the `helm secrets` command and the getter.
pub const PLUGIN_NAMES: [&str; 2] = ["secrets", "secrets-getter"];

/// The name of the link to the ksec binary inside each plugin folder.
pub const LINK_NAME: &str = "ksec";

/// The first line of every manifest ksec writes; uninstall removes only folders
/// whose manifest starts with it.
const MARKER: &str = "# Installed by ksec";

/// The `plugin.yaml` of plugin `name` (one of [`PLUGIN_NAMES`]).
pub fn manifest(name: &str) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let head = format!(
        "{MARKER}: `ksec helm plugin install` refreshes it, `ksec helm plugin uninstall` removes it.\n\
         # Legacy plugin format on purpose: Helm 3 and Helm 4 both load it.\n"
    );
    if name == "secrets-getter" {
        let protocols: String = Protocol::schemes()
            .map(|s| format!("      - \"{s}\"\n"))
            .collect();
        format!(
            "{head}name: \"secrets-getter\"\n\
             version: \"{version}\"\n\
             usage: \"secrets:// values files decrypted on the fly (ksec, helm-secrets compatible)\"\n\
             description: \"The getter of ksec's helm-secrets drop-in: secrets://, secrets+*-import://, secrets+literal://, ksec://\"\n\
             downloaders:\n  \
             - command: \"{LINK_NAME} helm downloader\"\n    \
             protocols:\n{protocols}"
        )
    } else {
        format!(
            "{head}name: \"secrets\"\n\
             version: \"{version}\"\n\
             usage: \"SOPS-encrypted values for Helm (ksec, helm-secrets compatible)\"\n\
             description: \"helm secrets encrypt|decrypt|edit|dir FILE, or helm secrets COMMAND ARGS with encrypted values files\"\n\
             platformCommand:\n  \
             - command: \"$HELM_PLUGIN_DIR/{LINK_NAME} helm secrets\"\n"
        )
    }
}

/// `helm` as the user would run it: `explicit`, else the first `helm` on `PATH` that
/// is not this ksec binary (ksec may be installed as `helm` for wrapper mode).
pub fn find_helm(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    search_path("helm").ok_or_else(|| Error::Helm {
        helm: PathBuf::from("helm"),
        reason: "no helm on PATH (other than ksec itself); name the binary".into(),
    })
}

/// The first executable `name` on `PATH` that is not this process's binary.
pub fn search_path(name: &str) -> Option<PathBuf> {
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok());
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            let is_exe = std::fs::metadata(p).is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            });
            is_exe && p.canonicalize().ok() != me
        })
}

/// The plugin folders of a Helm: `helm env HELM_PLUGINS` (a `:`-separated list).
pub fn plugins_dirs(helm: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new(helm)
        .args(["env", "HELM_PLUGINS"])
        .output()
        .map_err(|e| Error::Helm {
            helm: helm.to_path_buf(),
            reason: format!("cannot run it: {e}"),
        })?;
    if !out.status.success() {
        return Err(Error::Helm {
            helm: helm.to_path_buf(),
            reason: format!(
                "`helm env HELM_PLUGINS` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let dirs: Vec<PathBuf> = std::env::split_paths(text.trim())
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    if dirs.is_empty() {
        return Err(Error::Helm {
            helm: helm.to_path_buf(),
            reason: "`helm env HELM_PLUGINS` printed no folder".into(),
        });
    }
    Ok(dirs)
}

/// The plugin folder to install into for a Helm: the first of [`plugins_dirs`].
pub fn plugins_dir(helm: &Path) -> Result<PathBuf> {
    Ok(plugins_dirs(helm)?.into_iter().next().unwrap_or_default())
}

/// What a plugin folder holds, from its manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Found {
    ours: bool,
    name: String,
    version: String,
    serves_secrets: bool,
}

/// Reads a plugin folder's manifest: who wrote it, its name, whether it serves
/// `secrets://`. A line scan is enough for these three facts (bounded to 64 KiB).
fn inspect(dir: &Path) -> Option<Found> {
    let text = std::fs::read(dir.join("plugin.yaml")).ok()?;
    let text = String::from_utf8_lossy(&text[..text.len().min(64 * 1024)]).into_owned();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
            .unwrap_or_default()
    };
    let serves_secrets = text.lines().any(|l| {
        let t = l.trim();
        t.strip_prefix('-')
            .map(|v| v.trim().trim_matches('"').trim_matches('\''))
            == Some("secrets")
    });
    Some(Found {
        ours: text.starts_with(MARKER),
        name: field("name:"),
        version: field("version:"),
        serves_secrets,
    })
}

/// True if some plugin in these folders serves `secrets://` (ksec's getter or
/// helm-secrets').
pub fn getter_installed(plugins_dirs: &[PathBuf]) -> bool {
    plugins_dirs.iter().any(|d| {
        std::fs::read_dir(d).is_ok_and(|rd| {
            rd.flatten()
                .any(|e| inspect(&e.path()).is_some_and(|f| f.serves_secrets))
        })
    })
}

/// What `install` did.
#[derive(Debug, Default)]
pub struct Installed {
    /// The plugin folders written.
    pub dirs: Vec<PathBuf>,
    /// Plugins of others removed because of `force` (`helm-secrets 4.7.0 in DIR`).
    pub replaced: Vec<String>,
    /// How the binary is linked: `symlink`, `hard link` or `copy`.
    pub link: &'static str,
}

/// Installs (or refreshes) both plugins in `plugins_dir`, each with a link to `exe`.
/// A plugin of someone else in the way (helm-secrets, under any folder name, serving
/// `secrets://` or named `secrets`/`secrets-getter`) stops it, unless `force`, which
/// removes that plugin.
pub fn install(plugins_dir: &Path, exe: &Path, force: bool) -> Result<Installed> {
    let exe = exe
        .canonicalize()
        .map_err(|e| Error::io(format!("cannot resolve {}", exe.display()), e))?;
    std::fs::create_dir_all(plugins_dir)
        .map_err(|e| Error::io(format!("cannot create {}", plugins_dir.display()), e))?;
    let mut conflicts = Vec::new();
    let rd = std::fs::read_dir(plugins_dir)
        .map_err(|e| Error::io(format!("cannot list {}", plugins_dir.display()), e))?;
    for e in rd.flatten() {
        let dir = e.path();
        let file_name = e.file_name().to_string_lossy().into_owned();
        let claimed = PLUGIN_NAMES.contains(&file_name.as_str());
        match inspect(&dir) {
            Some(f) if f.ours => {}
            Some(f) if claimed || f.serves_secrets || PLUGIN_NAMES.contains(&f.name.as_str()) => {
                conflicts.push((dir, format!("{} {}", f.name, f.version).trim().to_string()))
            }
            None if claimed && dir.exists() => conflicts.push((dir, "an unknown folder".into())),
            _ => {}
        }
    }
    let mut report = Installed::default();
    for (dir, what) in conflicts {
        if !force {
            return Err(Error::PluginConflict { dir, what });
        }
        std::fs::remove_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot remove {}", dir.display()), e))?;
        report.replaced.push(format!("{what} in {}", dir.display()));
    }
    for name in PLUGIN_NAMES {
        let dir = plugins_dir.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        write_replacing(&dir.join("plugin.yaml"), manifest(name).as_bytes())?;
        report.link = link_binary(&exe, &dir.join(LINK_NAME))?;
        report.dirs.push(dir);
    }
    Ok(report)
}

/// Removes the plugins ksec installed in `plugins_dir` (and nothing else); returns
/// the folders removed and, separately, same-named folders left alone.
pub fn uninstall(plugins_dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut removed, mut kept) = (Vec::new(), Vec::new());
    for name in PLUGIN_NAMES {
        let dir = plugins_dir.join(name);
        match inspect(&dir) {
            Some(f) if f.ours => {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| Error::io(format!("cannot remove {}", dir.display()), e))?;
                removed.push(dir);
            }
            _ if dir.exists() => kept.push(dir),
            _ => {}
        }
    }
    Ok((removed, kept))
}

fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(format!("cannot write {}", path.display()), e)
        })
}

/// Points `link` at `exe`: a symbolic link, else a hard link, else a copy; replaced
/// atomically (a Helm running now sees the old or the new one, never none).
fn link_binary(exe: &Path, link: &Path) -> Result<&'static str> {
    let tmp = link.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let how = if std::os::unix::fs::symlink(exe, &tmp).is_ok() {
        "symlink"
    } else if std::fs::hard_link(exe, &tmp).is_ok() {
        "hard link"
    } else {
        std::fs::copy(exe, &tmp).map_err(|e| {
            Error::io(
                format!("cannot copy {} to {}", exe.display(), tmp.display()),
                e,
            )
        })?;
        "copy"
    };
    std::fs::rename(&tmp, link).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(format!("cannot replace {}", link.display()), e)
    })?;
    Ok(how)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_legacy_and_marked() {
        for name in PLUGIN_NAMES {
            let m = manifest(name);
            assert!(m.starts_with(MARKER));
            assert!(!m.contains("apiVersion"), "a v1 manifest breaks Helm 3");
            assert!(m.contains(&format!("name: \"{name}\"")));
        }
        let g = manifest("secrets-getter");
        for s in Protocol::schemes() {
            assert!(g.contains(&format!("- \"{s}\"")), "{s}");
        }
        assert!(g.contains("command: \"ksec helm downloader\""));
        assert!(
            !manifest("secrets").contains("downloaders"),
            "Helm 4 would make it a getter"
        );
    }

    #[test]
    fn install_refuses_helm_secrets_unless_forced_and_uninstall_keeps_others() {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        let theirs = plugins.join("helm-secrets");
        std::fs::create_dir_all(&theirs).unwrap();
        std::fs::write(
            theirs.join("plugin.yaml"),
            "name: \"secrets\"\nversion: \"4.7.0\"\ndownloaders:\n  - command: \"scripts/run.sh downloader\"\n    protocols:\n      - \"secrets\"\n",
        )
        .unwrap();
        let exe = dir.path().join("ksec-bin");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();

        let e = install(&plugins, &exe, false).unwrap_err().to_string();
        assert!(
            e.contains("secrets 4.7.0") && e.contains("helm-secrets"),
            "{e}"
        );
        assert!(theirs.exists());
        assert!(getter_installed(std::slice::from_ref(&plugins)));

        let r = install(&plugins, &exe, true).unwrap();
        assert_eq!(r.replaced.len(), 1);
        assert!(!theirs.exists());
        assert_eq!(r.link, "symlink");
        for name in PLUGIN_NAMES {
            let link = plugins.join(name).join(LINK_NAME);
            assert_eq!(
                std::fs::read_link(&link).unwrap(),
                exe.canonicalize().unwrap()
            );
        }
        // A refresh is quiet and idempotent.
        let again = install(&plugins, &exe, false).unwrap();
        assert!(again.replaced.is_empty());
        assert!(getter_installed(std::slice::from_ref(&plugins)));

        let other = plugins.join("diff");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("plugin.yaml"), "name: \"diff\"\n").unwrap();
        let (removed, kept) = uninstall(&plugins).unwrap();
        assert_eq!(removed.len(), 2);
        assert!(kept.is_empty());
        assert!(other.exists() && !plugins.join("secrets").exists());
        assert!(!getter_installed(&[plugins]));
    }
}
