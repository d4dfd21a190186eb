//! helm-secrets' settings, read from the same environment variables, and the checks
//! they switch on (symlinks, absolute paths, `..`, key locations, import protocols).
//!
//! With `ARGOCD_APP_NAME` set (Argo CD's repo server sets it for every render) the
//! defaults are safer than helm-secrets' own, which only turns on quiet: symlinks and
//! `..` are refused, and the `*-import*` protocols are off unless
//! `HELM_SECRETS_KEY_LOCATION_PREFIX` is set. Absolute paths stay allowed, because
//! Argo CD passes values files by absolute path. Every explicit setting wins.
use crate::error::{Error, Result};
use crate::url::{Backend, KeyLocation, Protocol};
use ksec_sops::Zeroizing;
use std::path::{Component, Path};

/// helm-secrets' settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `HELM_SECRETS_BACKEND` (default `sops`).
    pub backend: Backend,
    /// `HELM_SECRETS_ALLOWED_BACKENDS`, comma-separated (empty: all).
    pub allowed_backends: Option<String>,
    /// `HELM_SECRETS_QUIET` (default: false; true under Argo CD).
    pub quiet: bool,
    /// `HELM_SECRETS_IGNORE_MISSING_VALUES`: every missing file is empty values.
    pub ignore_missing_values: bool,
    /// `HELM_SECRETS_KEY_LOCATION_PREFIX`: key files must start with it.
    pub key_location_prefix: Option<String>,
    /// `HELM_SECRETS_VALUES_ALLOW_SYMLINKS`.
    pub allow_symlinks: bool,
    /// `HELM_SECRETS_VALUES_ALLOW_ABSOLUTE_PATH`.
    pub allow_absolute_path: bool,
    /// `HELM_SECRETS_VALUES_ALLOW_PATH_TRAVERSAL`.
    pub allow_path_traversal: bool,
    /// `HELM_SECRETS_ALLOW_GPG_IMPORT`.
    pub allow_gpg_import: bool,
    /// `HELM_SECRETS_ALLOW_GPG_IMPORT_KUBERNETES`.
    pub allow_gpg_import_kubernetes: bool,
    /// `HELM_SECRETS_ALLOW_AGE_IMPORT`.
    pub allow_age_import: bool,
    /// `HELM_SECRETS_ALLOW_AGE_IMPORT_KUBERNETES`.
    pub allow_age_import_kubernetes: bool,
    /// `ARGOCD_APP_NAME` is set.
    pub argocd: bool,
    /// `HELM_SECRETS_BACKEND_ARGS` (extra sops flags; ksec runs no sops, so only
    /// an empty value is accepted when a file is decrypted).
    pub backend_args: Option<String>,
    /// `HELM_SECRETS_EVALUATE_TEMPLATES` (a vals feature; refused when true).
    pub evaluate_templates: bool,
    /// `HELM_SECRETS_LOAD_GPG_KEYS`: PGP key files (or folders of them), separated
    /// by spaces, imported into a private keyring for every run.
    pub load_gpg_keys: Option<String>,
    /// `HELM_SECRETS_WRAPPER_ENABLED`: ksec installed as `helm` wraps
    /// `install`, `upgrade`, `template`, `lint` and `diff`.
    pub wrapper_enabled: bool,
    /// `HELM_SECRETS_HELM_PATH`: the real Helm for wrapper mode.
    pub helm_path: Option<String>,
    /// `HELM_SECRETS_URL_VARIABLE_EXPANSION` (default false): `${NAME}` in an
    /// http(s) values URL is replaced by the environment variable (local paths and
    /// key locations are never expanded, as in helm-secrets).
    pub url_variable_expansion: bool,
}

impl Default for Settings {
    /// helm-secrets' defaults (no variables set).
    fn default() -> Self {
        match Self::from_lookup(|_| None) {
            Ok(s) => s,
            Err(_) => unreachable!("without variables no setting can be invalid"),
        }
    }
}

fn flag(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool> {
    match lookup(name).as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(v) => Err(Error::InvalidSetting {
            name,
            value: v.to_string(),
            expected: "true or false",
        }),
    }
}

impl Settings {
    /// The settings of this process's environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The settings a lookup function gives (for tests and embedding).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let text = |k: &str| lookup(k).filter(|v| !v.is_empty());
        let argocd = lookup("ARGOCD_APP_NAME").is_some();
        let key_location_prefix = text("HELM_SECRETS_KEY_LOCATION_PREFIX");
        // Under Argo CD the import protocols read keys named by whoever writes the
        // Application; they are on only where the operator fenced them in.
        let imports = !argocd || key_location_prefix.is_some();
        Ok(Settings {
            backend: Backend::parse(text("HELM_SECRETS_BACKEND").as_deref().unwrap_or("sops")),
            allowed_backends: text("HELM_SECRETS_ALLOWED_BACKENDS"),
            quiet: flag(&lookup, "HELM_SECRETS_QUIET", argocd)?,
            ignore_missing_values: flag(&lookup, "HELM_SECRETS_IGNORE_MISSING_VALUES", false)?,
            key_location_prefix,
            allow_symlinks: flag(&lookup, "HELM_SECRETS_VALUES_ALLOW_SYMLINKS", !argocd)?,
            allow_absolute_path: flag(&lookup, "HELM_SECRETS_VALUES_ALLOW_ABSOLUTE_PATH", true)?,
            allow_path_traversal: flag(
                &lookup,
                "HELM_SECRETS_VALUES_ALLOW_PATH_TRAVERSAL",
                !argocd,
            )?,
            allow_gpg_import: flag(&lookup, "HELM_SECRETS_ALLOW_GPG_IMPORT", imports)?,
            allow_gpg_import_kubernetes: flag(
                &lookup,
                "HELM_SECRETS_ALLOW_GPG_IMPORT_KUBERNETES",
                imports,
            )?,
            allow_age_import: flag(&lookup, "HELM_SECRETS_ALLOW_AGE_IMPORT", imports)?,
            allow_age_import_kubernetes: flag(
                &lookup,
                "HELM_SECRETS_ALLOW_AGE_IMPORT_KUBERNETES",
                imports,
            )?,
            argocd,
            backend_args: text("HELM_SECRETS_BACKEND_ARGS"),
            evaluate_templates: flag(&lookup, "HELM_SECRETS_EVALUATE_TEMPLATES", false)?,
            load_gpg_keys: text("HELM_SECRETS_LOAD_GPG_KEYS"),
            wrapper_enabled: flag(&lookup, "HELM_SECRETS_WRAPPER_ENABLED", false)?,
            helm_path: text("HELM_SECRETS_HELM_PATH"),
            url_variable_expansion: flag(&lookup, "HELM_SECRETS_URL_VARIABLE_EXPANSION", false)?,
        })
    }

    /// Refuses a protocol that a setting switches off.
    pub fn check_protocol(&self, protocol: Protocol) -> Result<()> {
        let (allowed, setting) = match protocol {
            Protocol::Secrets | Protocol::Literal => return Ok(()),
            Protocol::AgeImport => (self.allow_age_import, "HELM_SECRETS_ALLOW_AGE_IMPORT"),
            Protocol::GpgImport => (self.allow_gpg_import, "HELM_SECRETS_ALLOW_GPG_IMPORT"),
            Protocol::AgeImportKubernetes => (
                self.allow_age_import_kubernetes,
                "HELM_SECRETS_ALLOW_AGE_IMPORT_KUBERNETES",
            ),
            Protocol::GpgImportKubernetes => (
                self.allow_gpg_import_kubernetes,
                "HELM_SECRETS_ALLOW_GPG_IMPORT_KUBERNETES",
            ),
        };
        if allowed {
            return Ok(());
        }
        Err(Error::ProtocolNotAllowed {
            scheme: protocol.scheme(),
            setting,
            why: if self.argocd && self.key_location_prefix.is_none() {
                " (under Argo CD the import protocols are off unless HELM_SECRETS_KEY_LOCATION_PREFIX fences the key locations)"
            } else {
                ""
            },
        })
    }

    /// The backend to use: the URL's `BACKEND!`, else `HELM_SECRETS_BACKEND`;
    /// refused when not allowed or not implemented.
    pub fn backend<'a>(&'a self, from_url: Option<&'a Backend>) -> Result<&'a Backend> {
        let b = from_url.unwrap_or(&self.backend);
        if let Some(allowed) = &self.allowed_backends {
            if !ksec_text::split_list(allowed).any(|a| a == b.name()) {
                return Err(Error::BackendNotAllowed {
                    backend: b.name().to_string(),
                    allowed: allowed.clone(),
                });
            }
        }
        match b {
            Backend::Sops if self.backend_args.is_some() => Err(Error::InvalidSetting {
                name: "HELM_SECRETS_BACKEND_ARGS",
                value: self.backend_args.clone().unwrap_or_default(),
                expected: "nothing: ksec runs no sops binary to pass arguments to",
            }),
            Backend::Sops | Backend::Noop => Ok(b),
            Backend::Other(name) if name == "vals" => Err(Error::UnsupportedBackend {
                backend: name.clone(),
                reason: "vals references (ref+vault://…) are not implemented; keep vals-backed values with helm-secrets, or move them to SOPS files",
            }),
            Backend::Other(name) => Err(Error::UnsupportedBackend {
                backend: name.clone(),
                reason: "ksec knows the sops and noop backends",
            }),
            Backend::Script(path) => Err(Error::UnsupportedBackend {
                backend: path.clone(),
                reason: "custom backend scripts are not run by ksec (no shell in between); decrypt with the sops backend",
            }),
        }
    }

    /// Refuses a local values path that a `HELM_SECRETS_VALUES_ALLOW_*` setting
    /// forbids. With symlinks refused, every component of the path as written is
    /// checked, not only the last one.
    pub fn check_values_path(&self, path: &Path) -> Result<()> {
        let refuse = |reason, setting| {
            Err(Error::PathRefused {
                path: path.to_path_buf(),
                reason,
                setting,
            })
        };
        if !self.allow_absolute_path && path.is_absolute() {
            return refuse(
                "absolute paths are not allowed",
                "HELM_SECRETS_VALUES_ALLOW_ABSOLUTE_PATH",
            );
        }
        if !self.allow_path_traversal && path.components().any(|c| c == Component::ParentDir) {
            return refuse(
                "'..' is not allowed (the file must stay inside the working folder)",
                "HELM_SECRETS_VALUES_ALLOW_PATH_TRAVERSAL",
            );
        }
        if !self.allow_symlinks {
            let mut prefix = std::path::PathBuf::new();
            for c in path.components() {
                prefix.push(c);
                if matches!(c, Component::Normal(_))
                    && std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.file_type().is_symlink())
                {
                    return refuse(
                        "it is or goes through a symlink, and symlinks are not allowed",
                        "HELM_SECRETS_VALUES_ALLOW_SYMLINKS",
                    );
                }
            }
        }
        Ok(())
    }

    /// The URL to request for an http(s) values URL: with
    /// `HELM_SECRETS_URL_VARIABLE_EXPANSION`, its `${NAME}` references expanded from
    /// the environment (the result may hold a token: zeroized, never shown); else
    /// the URL as written.
    pub(crate) fn request_url(&self, url: &str) -> Result<Zeroizing<String>> {
        if self.url_variable_expansion {
            crate::expand::expand_url(url, |k| std::env::var(k).ok())
        } else {
            Ok(Zeroizing::new(url.to_string()))
        }
    }

    /// Refuses a key file outside `HELM_SECRETS_KEY_LOCATION_PREFIX` (helm-secrets
    /// checks key files only; Secret references are governed by the cluster's RBAC).
    pub fn check_key_location(&self, key: &KeyLocation) -> Result<()> {
        match (key, &self.key_location_prefix) {
            (KeyLocation::File(p), Some(prefix)) => {
                let text = p.to_string_lossy();
                let traverses = p.components().any(|c| c == Component::ParentDir);
                if text.starts_with(prefix.as_str()) && !traverses {
                    Ok(())
                } else {
                    Err(Error::KeyLocationNotAllowed {
                        location: text.into_owned(),
                        prefix: prefix.clone(),
                    })
                }
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn helm_secrets_defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s, Settings::default());
        assert!(!s.quiet && s.allow_symlinks && s.allow_path_traversal && s.allow_absolute_path);
        assert!(s.allow_age_import && s.allow_gpg_import_kubernetes);
        assert_eq!(s.backend, Backend::Sops);
    }

    #[test]
    fn argocd_defaults_are_safer_and_explicit_settings_win() {
        let s = settings(&[("ARGOCD_APP_NAME", "app")]).unwrap();
        assert!(s.quiet && !s.allow_symlinks && !s.allow_path_traversal);
        assert!(s.allow_absolute_path, "Argo CD passes absolute paths");
        assert!(!s.allow_age_import && !s.allow_gpg_import);
        assert!(!s.allow_age_import_kubernetes && !s.allow_gpg_import_kubernetes);
        let e = s
            .check_protocol(Protocol::AgeImport)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("HELM_SECRETS_ALLOW_AGE_IMPORT") && e.contains("KEY_LOCATION_PREFIX"),
            "{e}"
        );

        let s = settings(&[
            ("ARGOCD_APP_NAME", "app"),
            ("HELM_SECRETS_KEY_LOCATION_PREFIX", "/keys/"),
        ])
        .unwrap();
        assert!(s.allow_age_import && s.allow_gpg_import_kubernetes);

        let s = settings(&[
            ("ARGOCD_APP_NAME", "app"),
            ("HELM_SECRETS_QUIET", "false"),
            ("HELM_SECRETS_VALUES_ALLOW_SYMLINKS", "true"),
            ("HELM_SECRETS_ALLOW_AGE_IMPORT_KUBERNETES", "true"),
        ])
        .unwrap();
        assert!(!s.quiet && s.allow_symlinks && s.allow_age_import_kubernetes);
        assert!(!s.allow_age_import);
    }

    #[test]
    fn bad_values_are_named() {
        let e = settings(&[("HELM_SECRETS_QUIET", "maybe")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("HELM_SECRETS_QUIET") && e.contains("maybe"),
            "{e}"
        );
    }

    #[test]
    fn backends() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.backend(None).unwrap(), &Backend::Sops);
        assert_eq!(s.backend(Some(&Backend::Noop)).unwrap(), &Backend::Noop);
        let e = s
            .backend(Some(&Backend::parse("vals")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"vals\""), "{e}");
        let e = s
            .backend(Some(&Backend::parse("/opt/b.sh")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/opt/b.sh") && e.contains("custom"), "{e}");
        let s = settings(&[("HELM_SECRETS_ALLOWED_BACKENDS", "sops")]).unwrap();
        assert!(s.backend(Some(&Backend::Noop)).is_err());
        let s = settings(&[("HELM_SECRETS_BACKEND", "vals")]).unwrap();
        assert!(s.backend(None).is_err());
    }

    #[test]
    fn values_paths() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.yaml");
        std::fs::write(&real, "a: 1").unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let sub = dir.path().join("sub");
        std::os::unix::fs::symlink(dir.path(), &sub).unwrap();

        let open = settings(&[]).unwrap();
        assert!(open.check_values_path(&link).is_ok());
        assert!(open.check_values_path(Path::new("../x.yaml")).is_ok());

        let strict = settings(&[
            ("HELM_SECRETS_VALUES_ALLOW_SYMLINKS", "false"),
            ("HELM_SECRETS_VALUES_ALLOW_PATH_TRAVERSAL", "false"),
        ])
        .unwrap();
        assert!(strict.check_values_path(&real).is_ok());
        let e = strict.check_values_path(&link).unwrap_err().to_string();
        assert!(
            e.contains("symlink") && e.contains("HELM_SECRETS_VALUES_ALLOW_SYMLINKS"),
            "{e}"
        );
        assert!(strict.check_values_path(&sub.join("real.yaml")).is_err());
        let e = strict
            .check_values_path(Path::new("charts/../../x.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'..'") && e.contains("TRAVERSAL"), "{e}");
        assert!(strict.check_values_path(Path::new("a..b/x.yaml")).is_ok());

        let no_abs = settings(&[("HELM_SECRETS_VALUES_ALLOW_ABSOLUTE_PATH", "false")]).unwrap();
        assert!(no_abs.check_values_path(&real).is_err());
        assert!(no_abs.check_values_path(Path::new("rel.yaml")).is_ok());
    }

    #[test]
    fn url_variable_expansion_is_opt_in() {
        assert!(!settings(&[]).unwrap().url_variable_expansion);
        assert!(
            !settings(&[("ARGOCD_APP_NAME", "app")])
                .unwrap()
                .url_variable_expansion
        );
        let on = settings(&[("HELM_SECRETS_URL_VARIABLE_EXPANSION", "true")]).unwrap();
        assert!(on.url_variable_expansion);
        // Off: the URL is requested as written, '${…}' and all.
        let off = settings(&[]).unwrap();
        assert_eq!(
            off.request_url("https://h/${KSEC_UNSET_FOR_TEST}")
                .unwrap()
                .as_str(),
            "https://h/${KSEC_UNSET_FOR_TEST}"
        );
        let e = on
            .request_url("https://h/${KSEC_UNSET_FOR_TEST}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("${KSEC_UNSET_FOR_TEST} is not set"), "{e}");
    }

    #[test]
    fn key_locations() {
        let s = settings(&[("HELM_SECRETS_KEY_LOCATION_PREFIX", "/keys/")]).unwrap();
        assert!(s
            .check_key_location(&KeyLocation::File("/keys/a.txt".into()))
            .is_ok());
        assert!(s
            .check_key_location(&KeyLocation::File("/etc/a.txt".into()))
            .is_err());
        assert!(s
            .check_key_location(&KeyLocation::File("/keys/../etc/a.txt".into()))
            .is_err());
    }
}
