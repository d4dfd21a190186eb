//! The text forms of the key types reached over the network, parsed exactly as
//! sops parses them, and the metadata entries sops writes for them:
//!
//! - Vault / OpenBao Transit: `https://vault:8200/v1/ENGINE/keys/NAME`
//!   (`hcvault.NewMasterKeyFromURI`: the engine path may have several segments;
//!   a prefixed URL such as `/vault/v1/…` is refused);
//! - AWS KMS: `ARN[+ROLE_ARN]` (`kms.NewMasterKeyFromArn`: spaces removed, the
//!   role after `+arn:`), an encryption context `k:v,k2:v2`, and sops's text
//!   identity `ARN[+ROLE][|k:v,…][|PROFILE]` (`MasterKey.ToString`), which is how
//!   sops compares keys (`rotate --rm-kms`, `updatekeys`).
//!
//! Pure: nothing here talks to a service.
use crate::tree::{Item, Value};
use crate::Error;

/// A Vault Transit key: server, engine mount path, key name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VaultKey {
    pub(crate) address: String,
    pub(crate) engine_path: String,
    pub(crate) key_name: String,
}

impl VaultKey {
    /// Parses `https://vault:8200/v1/transit/keys/NAME` as sops does.
    pub(crate) fn parse(uri: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidRecipient {
            kind: "hc_vault".into(),
            recipient: uri.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = uri.split_once("://").ok_or_else(|| {
            bad("missing scheme (it should look like https://vault.example.com:8200/v1/transit/keys/keyName)")
        })?;
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(bad("invalid scheme"));
        }
        let (host, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        // Go's RequestURI: the path and the query, without the fragment.
        let path = path.split('#').next().unwrap_or_default();
        static PREFIXED: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        static FORMAT: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let prefixed = PREFIXED.get_or_init(|| {
            regex::Regex::new(r"/[^/]+/v[0-9]+/[^/]+/[^/]+/[^/]+").expect("constant regex")
        });
        let format = FORMAT.get_or_init(|| {
            regex::Regex::new(r"/v[0-9]+/[^/]+/[^/]+/[^/]+").expect("constant regex")
        });
        if prefixed.is_match(path) {
            return Err(bad("a Vault behind a prefixed URL is not supported (the path must look like /v1/transit/keys/keyName)"));
        }
        if !format.is_match(path) {
            return Err(bad("the path does not look like /v1/ENGINE/keys/NAME"));
        }
        let dirs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let key_name = dirs[dirs.len() - 1].to_string();
        // Go's path.Join drops empty segments.
        let engine_path = dirs[1..dirs.len() - 2]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        Ok(Self {
            address: format!("{scheme}://{host}"),
            engine_path,
            key_name,
        })
    }

    /// sops's text form: `ADDRESS/v1/ENGINE/keys/NAME`.
    pub(crate) fn uri(&self) -> String {
        format!(
            "{}/v1/{}/keys/{}",
            self.address, self.engine_path, self.key_name
        )
    }
}

/// An AWS KMS key as a file names it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct KmsKey {
    pub(crate) arn: String,
    pub(crate) role: Option<String>,
    /// Sorted by key.
    pub(crate) context: Vec<(String, String)>,
    pub(crate) aws_profile: Option<String>,
}

impl KmsKey {
    /// `ARN[+ROLE]`, as the `--kms` flag and a creation rule's `kms` list give it.
    pub(crate) fn from_arn_and_role(
        text: &str,
        context: &[(String, String)],
        aws_profile: Option<&str>,
    ) -> Self {
        let text: String = text.chars().filter(|c| *c != ' ').collect();
        let (arn, role) = match text.find("+arn:") {
            Some(i) if i > 0 => (text[..i].to_string(), Some(text[i + 1..].to_string())),
            _ => (text, None),
        };
        Self::new(arn, role, context.to_vec(), aws_profile.map(str::to_string))
    }

    pub(crate) fn new(
        arn: String,
        role: Option<String>,
        mut context: Vec<(String, String)>,
        aws_profile: Option<String>,
    ) -> Self {
        context.sort();
        context.dedup_by(|a, b| a.0 == b.0);
        Self {
            arn,
            role: role.filter(|r| !r.is_empty()),
            context,
            aws_profile: aws_profile.filter(|p| !p.is_empty()),
        }
    }

    /// sops's text identity: `ARN[+ROLE]`, then `|k:v,…` (sorted) when there is
    /// a context, then `|PROFILE` when there is a profile.
    pub(crate) fn id(&self) -> String {
        let mut s = self.arn.clone();
        if let Some(r) = &self.role {
            s.push('+');
            s.push_str(r);
        }
        let ctx = context_to_string(&self.context);
        match &self.aws_profile {
            Some(p) => {
                s.push('|');
                s.push_str(&ctx);
                s.push('|');
                s.push_str(p);
            }
            None if !ctx.is_empty() => {
                s.push('|');
                s.push_str(&ctx);
            }
            None => {}
        }
        s
    }

    /// The AWS region of the key, from its ARN (sops requires an ARN:
    /// `arn:aws…:kms:REGION:ACCOUNT:key/…` or `…:alias/…`).
    // Used by the network key services only.
    #[cfg_attr(not(feature = "network-keys"), allow(dead_code))]
    pub(crate) fn region(&self) -> Result<&str, String> {
        let parts: Vec<&str> = self.arn.splitn(6, ':').collect();
        let ok = parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == "kms"
            && !parts[3].is_empty()
            && !parts[4].is_empty()
            && parts[4].bytes().all(|b| b.is_ascii_digit())
            && (parts[5].starts_with("key/") || parts[5].starts_with("alias/"))
            && parts[5].len() > parts[5].find('/').unwrap_or(0) + 1;
        if ok {
            Ok(parts[3])
        } else {
            Err(format!("no valid ARN found in '{}'", self.arn))
        }
    }
}

/// `k:v,k2:v2` (sorted by key), as sops prints a context.
pub(crate) fn context_to_string(context: &[(String, String)]) -> String {
    context
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `--encryption-context k:v,k2:v2`. sops drops a malformed context with
/// a warning; here it is an error, so a key is never bound to less than asked.
pub(crate) fn parse_context(text: &str) -> Result<Vec<(String, String)>, Error> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for pair in text.split(',') {
        let parts: Vec<&str> = pair.split(':').collect();
        if parts.len() != 2 {
            return Err(Error::InvalidRecipient {
                kind: "kms".into(),
                recipient: text.to_string(),
                reason: format!(
                    "the encryption context pair {pair:?} is not KEY:VALUE (no other ':' allowed)"
                ),
            });
        }
        out.push((parts[0].to_string(), parts[1].to_string()));
    }
    out.sort();
    Ok(out)
}

/// Reads a `context` mapping (from a file's metadata or `.sops.yaml`). Like
/// sops, a context with a value that is not a string is not used.
pub(crate) fn context_from_value(v: Option<&Value>) -> Vec<(String, String)> {
    let Some(Value::Map(items)) = v else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for i in items {
        match i {
            Item::Entry(k, Value::Str(s)) => out.push((k.clone(), s.clone())),
            Item::Entry(..) => return Vec::new(),
            Item::Comment(_) => {}
        }
    }
    out
}

/// The metadata entry sops writes for a KMS key (field order of sops's
/// `kmskey`: arn, role, context, created_at, enc, aws_profile).
pub(crate) fn kms_entry(key: &KmsKey, created_at: &str, enc: &str) -> Vec<Item> {
    let s = |v: &str| Value::Str(v.to_string());
    let mut f = vec![Item::Entry("arn".into(), s(&key.arn))];
    if let Some(r) = &key.role {
        f.push(Item::Entry("role".into(), s(r)));
    }
    if !key.context.is_empty() {
        f.push(Item::Entry(
            "context".into(),
            Value::Map(
                key.context
                    .iter()
                    .map(|(k, v)| Item::Entry(k.clone(), s(v)))
                    .collect(),
            ),
        ));
    }
    f.push(Item::Entry("created_at".into(), s(created_at)));
    f.push(Item::Entry("enc".into(), s(enc)));
    f.push(Item::Entry(
        "aws_profile".into(),
        s(key.aws_profile.as_deref().unwrap_or_default()),
    ));
    f
}

/// The metadata entry sops writes for a Vault Transit key (sops's `vaultkey`).
pub(crate) fn vault_entry(key: &VaultKey, created_at: &str, enc: &str) -> Vec<Item> {
    let s = |v: &str| Value::Str(v.to_string());
    vec![
        Item::Entry("vault_address".into(), s(&key.address)),
        Item::Entry("engine_path".into(), s(&key.engine_path)),
        Item::Entry("key_name".into(), s(&key.key_name)),
        Item::Entry("created_at".into(), s(created_at)),
        Item::Entry("enc".into(), s(enc)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_uris_parse_as_sops_parses_them() {
        let k = VaultKey::parse("https://vault.example.org:8200/v1/transit/keys/dev").unwrap();
        assert_eq!(k.address, "https://vault.example.org:8200");
        assert_eq!(k.engine_path, "transit");
        assert_eq!(k.key_name, "dev");
        assert_eq!(
            k.uri(),
            "https://vault.example.org:8200/v1/transit/keys/dev"
        );
        let nested = VaultKey::parse("http://127.0.0.1:8200/v1/team/a/transit/keys/k/").unwrap();
        assert_eq!(nested.engine_path, "team/a/transit");
        assert_eq!(nested.key_name, "k");
        for bad in [
            "vault.example.org/v1/transit/keys/dev",
            "https://vault/v1/transit/dev",
            "https://vault/prefix/v1/transit/keys/dev",
            "https://vault",
        ] {
            assert!(VaultKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kms_ids_are_sops_to_string() {
        let ctx = parse_context("b:2,a:1").unwrap();
        let k = KmsKey::from_arn_and_role(
            "arn:aws:kms:us-east-1:111122223333:key/k1 +arn:aws:iam::111122223333:role/r",
            &ctx,
            None,
        );
        assert_eq!(k.arn, "arn:aws:kms:us-east-1:111122223333:key/k1");
        assert_eq!(k.role.as_deref(), Some("arn:aws:iam::111122223333:role/r"));
        assert_eq!(
            k.id(),
            "arn:aws:kms:us-east-1:111122223333:key/k1+arn:aws:iam::111122223333:role/r|a:1,b:2"
        );
        assert_eq!(k.region().unwrap(), "us-east-1");
        let p = KmsKey::from_arn_and_role("arn:aws:kms:eu-west-1:1:alias/x", &[], Some("prod"));
        assert_eq!(p.id(), "arn:aws:kms:eu-west-1:1:alias/x||prod");
        assert!(KmsKey::from_arn_and_role("key-id", &[], None)
            .region()
            .is_err());
        assert!(parse_context("a:b:c").is_err());
        assert!(parse_context("").unwrap().is_empty());
    }
}
