//! Which values get encrypted: the six suffix/regex rules and `mac_only_encrypted`
//! (sops's `shouldBeEncrypted`). The passes that apply them are in `pass.rs`.
use crate::Error;
use regex::Regex;

/// The default `unencrypted_suffix` sops writes when no other rule is set.
pub(crate) const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// `sha256("sops")`: the MAC of a `mac_only_encrypted` file starts from these bytes
/// so that it can never equal the MAC of the same file without the setting.
pub(crate) const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// The encryption rules of a file (stored in its metadata).
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Keys ending with this suffix (anywhere on the path) stay in plaintext.
    pub unencrypted_suffix: Option<String>,
    /// Only keys ending with this suffix are encrypted.
    pub encrypted_suffix: Option<String>,
    /// Keys matching this stay in plaintext.
    pub unencrypted_regex: Option<Regex>,
    /// Only keys matching this are encrypted.
    pub encrypted_regex: Option<Regex>,
    /// Values after a comment matching this stay in plaintext.
    pub unencrypted_comment_regex: Option<Regex>,
    /// Only values after a comment matching this are encrypted.
    pub encrypted_comment_regex: Option<Regex>,
    /// The MAC covers only the values that are encrypted.
    pub mac_only_encrypted: bool,
}

impl Rules {
    /// How many of the six rules are set (sops allows at most one).
    pub fn count(&self) -> usize {
        [
            self.unencrypted_suffix.is_some(),
            self.encrypted_suffix.is_some(),
            self.unencrypted_regex.is_some(),
            self.encrypted_regex.is_some(),
            self.unencrypted_comment_regex.is_some(),
            self.encrypted_comment_regex.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }

    /// Compiles a rule regex, naming the field when it is invalid.
    pub fn regex(field: &str, re: &str) -> Result<Regex, Error> {
        Regex::new(re).map_err(|e| Error::InvalidRegex {
            field: field.to_string(),
            reason: e.to_string(),
        })
    }

    pub(crate) fn should_encrypt(
        &self,
        path: &[String],
        comments: &[Vec<String>],
        is_comment: bool,
    ) -> bool {
        let mut enc = true;
        if let Some(s) = &self.unencrypted_suffix {
            if path.iter().any(|p| p.ends_with(s.as_str())) {
                enc = false;
            }
        }
        if let Some(s) = &self.encrypted_suffix {
            enc = path.iter().any(|p| p.ends_with(s.as_str()));
        }
        if let Some(r) = &self.unencrypted_regex {
            if path.iter().any(|p| r.is_match(p)) {
                enc = false;
            }
        }
        if let Some(r) = &self.encrypted_regex {
            enc = path.iter().any(|p| r.is_match(p));
        }
        if let Some(r) = &self.unencrypted_comment_regex {
            if comments.iter().flatten().any(|c| r.is_match(c)) {
                enc = false;
            }
        }
        if let Some(r) = &self.encrypted_comment_regex {
            // The comment line that matches stays readable itself; only what
            // follows it is encrypted.
            let last = comments.len().saturating_sub(1);
            let last_len = comments.last().map_or(0, Vec::len);
            enc = comments.iter().enumerate().any(|(i, cs)| {
                cs.iter()
                    .enumerate()
                    .any(|(j, c)| !(is_comment && i == last && j + 1 == last_len) && r.is_match(c))
            });
        }
        enc
    }
}
