//! `.sops.yaml`: creation rules (first match wins; `path_regex` matched against the
//! file path relative to the config's folder), key fields as lists or comma
//! strings, `key_groups` with `shamir_threshold`, the six encryption rules,
//! `mac_only_encrypted`, and `stores` settings (YAML/JSON indent).
use crate::keys::Recipient;
use crate::rules::Rules;
use crate::tree::Value;
use crate::Error;
use std::path::{Path, PathBuf};

/// The settings of the first matching creation rule.
#[derive(Clone, Debug, Default)]
pub struct CreationRule {
    /// Recipient groups.
    pub groups: Vec<Vec<Recipient>>,
    /// Shamir threshold.
    pub shamir_threshold: Option<u64>,
    /// Encryption rules.
    pub rules: Rules,
}

/// A loaded `.sops.yaml`.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Where it was read from.
    pub path: PathBuf,
    rules: Vec<(Option<regex::Regex>, CreationRule)>,
    /// `stores.yaml.indent`.
    pub yaml_indent: Option<usize>,
    /// `stores.json.indent`.
    pub json_indent: Option<usize>,
}

/// Finds `.sops.yaml` (or `.sops.yml`): `explicit` (the one a user named), then
/// `SOPS_CONFIG`, then upward from `start`.
fn find(explicit: Option<&Path>, start: &Path) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("SOPS_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let mut dir = Some(start);
    while let Some(d) = dir {
        for name in [".sops.yaml", ".sops.yml"] {
            let c = d.join(name);
            if c.is_file() {
                return Some(c);
            }
        }
        dir = d.parent();
    }
    None
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Str(s)) => ksec_text::split_list(s).map(str::to_string).collect(),
        Some(Value::Seq(vs)) => vs
            .iter()
            .filter_map(|x| match x {
                Value::Str(s) => Some(s.trim().to_string()),
                _ => None,
            })
            .filter(|x| !x.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

fn group(v: &Value) -> Vec<Recipient> {
    let mut g: Vec<Recipient> = strings(v.get("age"))
        .iter()
        .map(|s| Recipient::age(s))
        .collect();
    g.extend(strings(v.get("pgp")).iter().map(|s| Recipient::pgp(s)));
    // Other key types are named as in the file metadata (`MasterKey::kind`), so a
    // key service registered for that kind handles both sides.
    for (field, kind) in [
        ("kms", "kms"),
        ("gcp_kms", "gcp_kms"),
        ("azure_keyvault", "azure_kv"),
        ("hc_vault_transit_uri", "hc_vault"),
        ("hckms", "hckms"),
    ] {
        for s in strings(v.get(field)) {
            g.push(Recipient {
                kind: kind.into(),
                id: s,
            });
        }
    }
    g
}

impl Config {
    /// Finds `.sops.yaml` (or `.sops.yml`) as sops does — `explicit` (the file a
    /// user named), else `SOPS_CONFIG`, else upward from `start` — and loads it.
    /// `None` when there is none.
    pub fn find(explicit: Option<&Path>, start: &Path) -> Result<Option<Self>, Error> {
        find(explicit, start).map(|p| Self::load(&p)).transpose()
    }

    /// Parses a config file's contents.
    pub fn parse(path: &Path, text: &[u8]) -> Result<Self, Error> {
        let docs = crate::stores::yaml::parse_documents(text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let root = Value::Map(docs.into_iter().next().unwrap_or_default());
        let mut cfg = Config {
            path: path.to_path_buf(),
            ..Config::default()
        };
        let indent = |store: &str| match root
            .get("stores")
            .and_then(|s| s.get(store))
            .and_then(|s| s.get("indent"))
        {
            Some(Value::Int(i)) if *i >= 0 => Some(*i as usize),
            _ => None,
        };
        cfg.yaml_indent = indent("yaml");
        cfg.json_indent = indent("json");
        if let Some(Value::Seq(rules)) = root.get("creation_rules") {
            // A comment line inside the list is no rule (sops's YAML reader skips it).
            let not_comment = |v: &&Value| !matches!(v, Value::Comment(_));
            for (n, r) in rules.iter().filter(not_comment).enumerate() {
                let field = |k: &str| match r.get(k) {
                    Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
                    _ => None,
                };
                let re = |k: &str| -> Result<Option<regex::Regex>, Error> {
                    field(k)
                        .map(|s| {
                            Rules::regex(
                                &format!("{}: creation_rules[{n}].{k}", path.display()),
                                &s,
                            )
                        })
                        .transpose()
                };
                let path_re = re("path_regex")?;
                let mut groups = Vec::new();
                if let Some(Value::Seq(gs)) = r.get("key_groups") {
                    for g in gs.iter().filter(not_comment) {
                        groups.push(group(g));
                    }
                } else {
                    let g = group(r);
                    if !g.is_empty() {
                        groups.push(g);
                    }
                }
                let rules = Rules {
                    unencrypted_suffix: field("unencrypted_suffix"),
                    encrypted_suffix: field("encrypted_suffix"),
                    unencrypted_regex: re("unencrypted_regex")?,
                    encrypted_regex: re("encrypted_regex")?,
                    unencrypted_comment_regex: re("unencrypted_comment_regex")?,
                    encrypted_comment_regex: re("encrypted_comment_regex")?,
                    mac_only_encrypted: matches!(
                        r.get("mac_only_encrypted"),
                        Some(Value::Bool(true))
                    ),
                };
                let shamir_threshold = match r.get("shamir_threshold") {
                    Some(Value::Int(i)) if *i > 0 => Some(*i as u64),
                    _ => None,
                };
                cfg.rules.push((
                    path_re,
                    CreationRule {
                        groups,
                        shamir_threshold,
                        rules,
                    },
                ));
            }
        }
        Ok(cfg)
    }

    /// Loads a config file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            reason: format!("cannot read it: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// The first creation rule whose `path_regex` matches `file` (relative to the
    /// config's folder when the file is inside it), or a rule without `path_regex`.
    pub fn rule_for(&self, file: &Path) -> Option<&CreationRule> {
        let abs = if file.is_absolute() {
            file.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(file))
                .unwrap_or_else(|_| file.to_path_buf())
        };
        let base = self
            .path
            .parent()
            .map(|p| {
                if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    std::env::current_dir()
                        .map(|d| d.join(p))
                        .unwrap_or_else(|_| p.to_path_buf())
                }
            })
            .unwrap_or_default();
        let rel = abs
            .strip_prefix(&base)
            .map(Path::to_path_buf)
            .unwrap_or(abs.clone());
        let rel = rel.to_string_lossy().replace('\\', "/");
        self.rules.iter().find_map(|(re, rule)| match re {
            None => Some(rule),
            Some(re) if re.is_match(&rel) => Some(rule),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_wins() {
        let y = b"creation_rules:\n  - path_regex: ^secrets/.*\\.yaml$\n    age: age1a, age1b\n    encrypted_regex: ^data$\n  - age:\n      - age1c\n    mac_only_encrypted: true\nstores:\n  yaml:\n    indent: 2\n";
        let c = Config::parse(Path::new("/repo/.sops.yaml"), y).unwrap();
        assert_eq!(c.yaml_indent, Some(2));
        let r = c.rule_for(Path::new("/repo/secrets/a.yaml")).unwrap();
        assert_eq!(r.groups[0].len(), 2);
        assert!(r.rules.encrypted_regex.is_some());
        let r = c.rule_for(Path::new("/repo/other.yaml")).unwrap();
        assert_eq!(r.groups[0][0].id, "age1c");
        assert!(r.rules.mac_only_encrypted);
    }

    #[test]
    fn comments_in_the_rule_list_are_not_rules() {
        // helm-secrets' example .sops.yaml: a comment line above the only rule.
        let y = b"creation_rules:\n    # for project x\n    - pgp: \"D6174A02\"\n    - key_groups:\n        # the team\n        - age: [age1a]\n";
        let c = Config::parse(Path::new("/repo/.sops.yaml"), y).unwrap();
        let r = c.rule_for(Path::new("/repo/a.yaml")).unwrap();
        assert_eq!(r.groups, vec![vec![Recipient::pgp("D6174A02")]]);
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.rules[1].1.groups, vec![vec![Recipient::age("age1a")]]);
    }
}
