//! Which encryption settings apply to a new file: those given directly (sops's
//! flags and variables) over the first matching creation rule of `.sops.yaml`,
//! exactly as sops resolves them.
use crate::keys::Recipient;
use crate::rules::Rules;
use crate::{Config, EmitOptions, Encryptor, Error, Format};
use std::path::Path;

/// Encryption settings given directly (sops's flags and environment), before
/// `.sops.yaml` fills in what is missing. Empty by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncryptionOverrides {
    /// age recipients (`age1…`, `age1NAME1…`, `ssh-ed25519 …`).
    pub age: Vec<String>,
    /// PGP fingerprints.
    pub pgp: Vec<String>,
    /// AWS KMS keys, `ARN[+ROLE_ARN]`.
    pub kms: Vec<String>,
    /// The encryption context of the KMS keys (given directly, or named by a
    /// creation rule without `key_groups`), as [`parse_encryption_context`](crate::keys::parse_encryption_context) reads it.
    pub encryption_context: Vec<(String, String)>,
    /// The AWS profile of the KMS keys given directly.
    pub aws_profile: Option<String>,
    /// Vault Transit keys, `https://vault:8200/v1/transit/keys/NAME`.
    pub hc_vault_transit: Vec<String>,
    /// Keys with this suffix stay in plaintext.
    pub unencrypted_suffix: Option<String>,
    /// Only keys with this suffix are encrypted.
    pub encrypted_suffix: Option<String>,
    /// Keys matching this regular expression stay in plaintext.
    pub unencrypted_regex: Option<String>,
    /// Only keys matching this regular expression are encrypted.
    pub encrypted_regex: Option<String>,
    /// Values after a comment matching this stay in plaintext.
    pub unencrypted_comment_regex: Option<String>,
    /// Only values after a comment matching this are encrypted.
    pub encrypted_comment_regex: Option<String>,
    /// The MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
    /// Shares needed with several key groups.
    pub shamir_threshold: Option<u64>,
    /// Indentation of YAML/JSON output.
    pub indent: Option<usize>,
}

impl EncryptionOverrides {
    /// The rules given directly. A bad regular expression is named by its
    /// option (`encrypted_regex`).
    pub fn rules(&self) -> Result<Rules, Error> {
        let regex = |field: &str, v: &Option<String>| {
            v.as_deref().map(|s| Rules::regex(field, s)).transpose()
        };
        Ok(Rules {
            unencrypted_suffix: self.unencrypted_suffix.clone(),
            encrypted_suffix: self.encrypted_suffix.clone(),
            unencrypted_regex: regex("unencrypted_regex", &self.unencrypted_regex)?,
            encrypted_regex: regex("encrypted_regex", &self.encrypted_regex)?,
            unencrypted_comment_regex: regex(
                "unencrypted_comment_regex",
                &self.unencrypted_comment_regex,
            )?,
            encrypted_comment_regex: regex(
                "encrypted_comment_regex",
                &self.encrypted_comment_regex,
            )?,
            mac_only_encrypted: self.mac_only_encrypted,
        })
    }

    /// The recipients given directly, as one key group. A malformed Vault URI
    /// is an error naming it.
    pub fn recipients(&self) -> Result<Vec<Recipient>, Error> {
        let mut group: Vec<Recipient> = self.age.iter().map(|a| Recipient::age(a)).collect();
        group.extend(self.pgp.iter().map(|p| Recipient::pgp(p)));
        group.extend(
            self.kms
                .iter()
                .map(|k| Recipient::kms(k, &self.encryption_context, self.aws_profile.as_deref())),
        );
        for uri in &self.hc_vault_transit {
            group.push(Recipient::hc_vault(uri)?);
        }
        Ok(group)
    }
}

impl Encryptor {
    /// The encryptor sops would use for `file` (the name that picks the
    /// creation rule; `stdin` for standard input), writing `output`:
    /// - recipients given directly win, as one key group, with the rules given
    ///   directly; otherwise the first matching creation rule gives the key
    ///   groups, the threshold and the rules ([`Error::NoCreationRule`] if none
    ///   matches; without any `.sops.yaml`, encrypting fails later with
    ///   [`Error::NoRecipients`]);
    /// - rules given directly replace the rule's, and `mac_only_encrypted` is
    ///   on if either side sets it;
    /// - a threshold given directly wins;
    /// - the indentation given directly, else `.sops.yaml`'s `stores` setting.
    pub fn resolve(
        overrides: &EncryptionOverrides,
        config: Option<&Config>,
        file: &Path,
        output: Format,
    ) -> Result<Encryptor, Error> {
        let recipients = overrides.recipients()?;
        let direct_rules = overrides.rules()?;
        let mut groups = Vec::new();
        let mut threshold = None;
        let mut rules = Rules::default();
        if recipients.is_empty() {
            if let Some(rule) = config.and_then(|c| c.rule_for(file)) {
                groups = rule.groups_with_context(&overrides.encryption_context);
                threshold = rule.shamir_threshold;
                rules = rule.rules.clone();
            } else if let Some(c) = config {
                return Err(Error::NoCreationRule {
                    config: c.path.clone(),
                    file: file.to_path_buf(),
                });
            }
        } else {
            groups = vec![recipients];
        }
        if direct_rules.count() > 0 || overrides.mac_only_encrypted {
            let mac_only = rules.mac_only_encrypted || direct_rules.mac_only_encrypted;
            if direct_rules.count() > 0 {
                rules = direct_rules;
            }
            rules.mac_only_encrypted = mac_only;
        }
        let mut encryptor = Encryptor::new()
            .key_groups(groups)
            .rules(rules)
            .emit_options(EmitOptions::resolve(overrides.indent, config, output));
        if let Some(t) = overrides.shamir_threshold.or(threshold) {
            encryptor = encryptor.shamir_threshold(t);
        }
        Ok(encryptor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let y = b"creation_rules:\n  - path_regex: ^secrets/\n    age: age1rule\n    encrypted_regex: ^data$\n    shamir_threshold: 2\nstores:\n  yaml:\n    indent: 2\n";
        Config::parse(Path::new("/repo/.sops.yaml"), y).unwrap()
    }

    #[test]
    fn flags_win_over_the_creation_rule() {
        let c = config();
        let rule = Encryptor::resolve(
            &EncryptionOverrides::default(),
            Some(&c),
            Path::new("/repo/secrets/a.yaml"),
            Format::Yaml,
        )
        .unwrap();
        assert_eq!(rule.recipient_groups()[0][0].id, "age1rule");
        assert!(rule.encryption_rules().encrypted_regex.is_some());
        let flags = EncryptionOverrides {
            age: vec!["age1flag".into()],
            mac_only_encrypted: true,
            indent: Some(6),
            ..EncryptionOverrides::default()
        };
        let direct = Encryptor::resolve(
            &flags,
            Some(&c),
            Path::new("/repo/secrets/a.yaml"),
            Format::Yaml,
        )
        .unwrap();
        assert_eq!(
            direct.recipient_groups(),
            [vec![Recipient::age("age1flag")]]
        );
        assert!(direct.encryption_rules().encrypted_regex.is_none());
        assert!(direct.encryption_rules().mac_only_encrypted);
        let none = Encryptor::resolve(
            &EncryptionOverrides::default(),
            Some(&c),
            Path::new("/elsewhere/b.yaml"),
            Format::Yaml,
        );
        assert!(matches!(none, Err(Error::NoCreationRule { .. })));
        let bad = EncryptionOverrides {
            encrypted_regex: Some("(".into()),
            ..EncryptionOverrides::default()
        };
        assert!(matches!(
            Encryptor::resolve(&bad, None, Path::new("x.yaml"), Format::Yaml),
            Err(Error::InvalidRegex { ref field, .. }) if field == "encrypted_regex"
        ));
    }
}
