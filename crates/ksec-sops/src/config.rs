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
    /// The keys were listed directly in the rule, not in `key_groups`.
    flat: bool,
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

/// The keys of a flat creation rule (no `key_groups`): comma strings or lists,
/// KMS keys as `ARN[+ROLE]` with the rule's `aws_profile` (their encryption
/// context comes from the command line: [`CreationRule::groups_with_context`]).
fn flat_group(rule: &Value, at: &At<'_>) -> Result<Vec<Recipient>, Error> {
    let mut g: Vec<Recipient> = strings(rule.get("age"))
        .iter()
        .map(|s| Recipient::age(s))
        .collect();
    g.extend(strings(rule.get("pgp")).iter().map(|s| Recipient::pgp(s)));
    let profile = match rule.get("aws_profile") {
        Some(Value::Str(p)) if !p.is_empty() => Some(p.as_str()),
        _ => None,
    };
    g.extend(
        strings(rule.get("kms"))
            .iter()
            .map(|s| Recipient::kms(s, &[], profile)),
    );
    for (field, kind) in [
        ("gcp_kms", "gcp_kms"),
        ("hckms", "hckms"),
        ("azure_keyvault", "azure_kv"),
    ] {
        g.extend(
            strings(rule.get(field))
                .iter()
                .map(|s| Recipient::other(kind, s)),
        );
    }
    for uri in strings(rule.get("hc_vault_transit_uri")) {
        g.push(Recipient::hc_vault(&uri).map_err(|e| config_error(at, "hc_vault_transit_uri", e))?);
    }
    Ok(dedup(g))
}

/// One entry of `key_groups`: lists of keys, KMS keys as mappings
/// (`arn`, `role`, `context`, `aws_profile`), Vault keys as URIs, and `merge`
/// (groups whose keys are added to this one).
fn group(v: &Value, at: &At<'_>, depth: usize) -> Result<Vec<Recipient>, Error> {
    let mut g = Vec::new();
    if let Some(Value::Seq(subs)) = v.get("merge") {
        if depth > 16 {
            return Err(config_error(at, "merge", "nested more than 16 levels"));
        }
        for sub in subs {
            g.extend(group(sub, at, depth + 1)?);
        }
    }
    let text = |m: &Value, k: &str| match m.get(k) {
        Some(Value::Str(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    };
    if let Some(Value::Seq(keys)) = v.get("kms") {
        for k in keys {
            let arn =
                text(k, "arn").ok_or_else(|| config_error(at, "kms", "an entry has no arn"))?;
            let context = crate::keys::cloud::context_from_value(k.get("context"));
            g.push(Recipient::kms_key(
                &arn,
                text(k, "role").as_deref(),
                &context,
                text(k, "aws_profile").as_deref(),
            ));
        }
    }
    if let Some(Value::Seq(keys)) = v.get("gcp_kms") {
        g.extend(
            keys.iter()
                .filter_map(|k| text(k, "resource_id"))
                .map(|id| Recipient::other("gcp_kms", &id)),
        );
    }
    if let Some(Value::Seq(keys)) = v.get("hckms") {
        g.extend(
            keys.iter()
                .filter_map(|k| text(k, "key_id"))
                .map(|id| Recipient::other("hckms", &id)),
        );
    }
    if let Some(Value::Seq(keys)) = v.get("azure_keyvault") {
        for k in keys {
            let url = text(k, "vaultUrl").unwrap_or_default();
            let name = text(k, "key").unwrap_or_default();
            let version = text(k, "version").unwrap_or_default();
            g.push(Recipient::other(
                "azure_kv",
                &format!("{}/keys/{name}/{version}", url.trim_end_matches('/')),
            ));
        }
    }
    for uri in strings(v.get("hc_vault")) {
        g.push(Recipient::hc_vault(&uri).map_err(|e| config_error(at, "hc_vault", e))?);
    }
    for a in strings(v.get("age")) {
        g.extend(ksec_text::split_list(&a).map(Recipient::age));
    }
    g.extend(strings(v.get("pgp")).iter().map(|s| Recipient::pgp(s)));
    Ok(dedup(g))
}

/// Drops repeated keys, keeping the first (sops's `deduplicateKeygroup`).
fn dedup(group: Vec<Recipient>) -> Vec<Recipient> {
    let mut out: Vec<Recipient> = Vec::with_capacity(group.len());
    for r in group {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// Where in a `.sops.yaml` a key list is: the file and the rule's path in it.
struct At<'a> {
    file: &'a Path,
    rule: String,
}

fn config_error(at: &At<'_>, field: &str, reason: impl std::fmt::Display) -> Error {
    Error::Config {
        path: at.file.to_path_buf(),
        reason: format!("{}.{field}: {reason}", at.rule),
    }
}

impl CreationRule {
    /// The key groups, with `context` as the encryption context of the KMS keys
    /// a flat rule names (sops's `--encryption-context`; `key_groups` entries
    /// carry their own).
    pub fn groups_with_context(&self, context: &[(String, String)]) -> Vec<Vec<Recipient>> {
        if !self.flat || context.is_empty() {
            return self.groups.clone();
        }
        self.groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|r| match r.kms_key_detail() {
                        Some(k) => Recipient::kms_key(
                            &k.arn,
                            k.role.as_deref(),
                            context,
                            k.aws_profile.as_deref(),
                        ),
                        None => r.clone(),
                    })
                    .collect()
            })
            .collect()
    }
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
                let rule_at = format!("creation_rules[{n}]");
                let mut groups = Vec::new();
                let flat = !matches!(r.get("key_groups"), Some(Value::Seq(gs)) if !gs.is_empty());
                if let (false, Some(Value::Seq(gs))) = (flat, r.get("key_groups")) {
                    for (i, g) in gs.iter().filter(not_comment).enumerate() {
                        let at = At {
                            file: path,
                            rule: format!("{rule_at}.key_groups[{i}]"),
                        };
                        groups.push(group(g, &at, 0)?);
                    }
                } else {
                    let at = At {
                        file: path,
                        rule: rule_at,
                    };
                    let g = flat_group(r, &at)?;
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
                        flat,
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

    /// For each creation rule, in order, a `.gitattributes` glob that selects
    /// exactly the files its `path_regex` matches (relative to this file's
    /// folder), when the regex reduces to a literal directory and/or suffix:
    /// `^secrets/` is `secrets/**`, `\.enc\.yaml$` is `*.enc.yaml`,
    /// `^k8s/.*\.yaml$` is `k8s/**/*.yaml`. `Err` carries the regex (or says
    /// there is none) when it does not reduce.
    pub fn path_globs(&self) -> Vec<PathGlob> {
        self.rules
            .iter()
            .map(|(re, _)| match re {
                None => PathGlob::EveryFile,
                Some(re) => regex_to_glob(re.as_str())
                    .map_or_else(|| PathGlob::Regex(re.as_str().to_string()), PathGlob::Glob),
            })
            .collect()
    }

    /// True if a creation rule has a `path_regex` (so not every file is meant
    /// to be encrypted).
    pub fn has_path_rules(&self) -> bool {
        self.rules.iter().any(|(re, _)| re.is_some())
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

/// One token of a path regex that reduces to a glob.
#[derive(Debug, PartialEq)]
enum Token {
    Lit(char),
    /// `.*` or `.+`: anything, slashes included.
    Any,
    /// `[^/]*` or `[^/]+`: one path segment's worth.
    Segment,
}

/// What one creation rule's `path_regex` selects, as a `.gitattributes` glob when it can
/// be one ([`Config::path_globs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathGlob {
    /// The glob that selects the same files.
    Glob(String),
    /// A `path_regex` that does not reduce to a glob (the regex).
    Regex(String),
    /// A rule without `path_regex`: it matches every file.
    EveryFile,
}

/// See [`Config::path_globs`]. Conservative: anything it does not recognise
/// (an unescaped `.`, alternatives, classes) gives `None`.
pub(crate) fn regex_to_glob(re: &str) -> Option<String> {
    let (anchored, mut rest) = match re.strip_prefix('^') {
        Some(r) => (true, r),
        None => (false, re),
    };
    let ends = rest.ends_with('$') && !rest.ends_with("\\$");
    if ends {
        rest = &rest[..rest.len() - 1];
    }
    let mut tokens = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                e @ ('.' | '-' | '/' | '_') => tokens.push(Token::Lit(e)),
                _ => return None,
            },
            '.' => match chars.next()? {
                '*' | '+' => tokens.push(Token::Any),
                _ => return None,
            },
            '[' => {
                let class: String = chars.by_ref().take(3).collect();
                if class != "^/]" {
                    return None;
                }
                match chars.next()? {
                    '*' | '+' => tokens.push(Token::Segment),
                    _ => return None,
                }
            }
            c if c.is_ascii_alphanumeric() || "_-/".contains(c) => tokens.push(Token::Lit(c)),
            _ => return None,
        }
    }
    // A leading "anything" is the same as no anchor.
    let anchored = anchored && tokens.first() != Some(&Token::Any);
    while tokens.first() == Some(&Token::Any) {
        tokens.remove(0);
    }
    let lit = |ts: &[Token]| -> Option<String> {
        ts.iter()
            .map(|t| match t {
                Token::Lit(c) => Some(*c),
                _ => None,
            })
            .collect()
    };
    let wild = tokens.iter().position(|t| !matches!(t, Token::Lit(_)));
    match (anchored, wild) {
        // ^dir/…: a directory, then anything (or one segment), then a suffix.
        (true, Some(w)) => {
            let dir = lit(&tokens[..w])?;
            let tail = lit(&tokens[w + 1..])?;
            if !dir.ends_with('/') || tail.contains('/') || (!ends && !tail.is_empty()) {
                return None;
            }
            match (&tokens[w], tail.is_empty()) {
                (Token::Any, true) => Some(format!("{dir}**")),
                (Token::Any, false) => Some(format!("{dir}**/*{tail}")),
                (_, _) if ends => Some(format!("{dir}*{tail}")),
                _ => None,
            }
        }
        // ^dir/ (prefix) or ^path$ (one file).
        (true, None) => {
            let text = lit(&tokens)?;
            if ends {
                Some(format!("/{text}"))
            } else if text.ends_with('/') {
                Some(format!("{text}**"))
            } else {
                None
            }
        }
        // …suffix$: a file-name suffix at any depth.
        (false, None) if ends => {
            let text = lit(&tokens)?;
            (!text.contains('/') && !text.is_empty()).then(|| format!("*{text}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_regexes_reduce_to_globs() {
        for (re, glob) in [
            ("^secrets/", Some("secrets/**")),
            ("^secrets/.*", Some("secrets/**")),
            ("^secrets/.*\\.yaml$", Some("secrets/**/*.yaml")),
            ("^k8s/prod/[^/]*\\.yaml$", Some("k8s/prod/*.yaml")),
            ("\\.enc\\.yaml$", Some("*.enc.yaml")),
            (".*\\.enc\\.json$", Some("*.enc.json")),
            ("^.*_secret\\.env$", Some("*_secret.env")),
            ("^config/app\\.yaml$", Some("/config/app.yaml")),
            ("secrets/", None),
            ("secrets/.*\\.yaml$", None),
            ("^secrets/.*.yaml$", None),
            ("(a|b)\\.yaml$", None),
            (".*", None),
        ] {
            assert_eq!(super::regex_to_glob(re).as_deref(), glob, "{re}");
        }
    }

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
