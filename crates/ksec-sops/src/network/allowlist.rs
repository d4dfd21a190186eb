//! `SOPS_HC_VAULT_ALLOWLIST`: which Vault addresses may receive a token (sops
//! 3.13's `hcvault.allowList`). `all` (the default when unset) allows every
//! address, `none` none; otherwise a comma list of URL prefixes, each compared
//! with a trailing `/` added to both sides, so `https://vault` does not allow
//! `https://vault.evil`.

/// The variable sops reads.
pub(crate) const ENV: &str = "SOPS_HC_VAULT_ALLOWLIST";

/// The Vault addresses a token may be sent to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultAllowlist {
    all: bool,
    prefixes: Vec<String>,
}

impl VaultAllowlist {
    /// Every address (sops's default, for now).
    pub fn all() -> Self {
        Self {
            all: true,
            prefixes: Vec::new(),
        }
    }

    /// No address.
    pub fn none() -> Self {
        Self {
            all: false,
            prefixes: Vec::new(),
        }
    }

    /// Parses the variable's value as sops does: `all`, `none`, or a comma
    /// list of prefixes (an empty entry is an error naming its position).
    pub fn parse(text: &str) -> Result<Self, crate::Error> {
        match text {
            "all" => return Ok(Self::all()),
            "none" => return Ok(Self::none()),
            _ => {}
        }
        let mut prefixes = Vec::new();
        for (n, uri) in text.split(',').enumerate() {
            let uri = uri.trim_matches(' ');
            if uri.is_empty() {
                return Err(crate::Error::Environment {
                    variable: ENV,
                    reason: format!("entry {} is empty", n + 1),
                });
            }
            prefixes.push(with_slash(uri));
        }
        Ok(Self {
            all: false,
            prefixes,
        })
    }

    /// True if a token may be sent to `address`.
    pub fn allows(&self, address: &str) -> bool {
        if self.all {
            return true;
        }
        let address = with_slash(address);
        self.prefixes
            .iter()
            .any(|p| address.starts_with(p.as_str()))
    }
}

fn with_slash(s: &str) -> String {
    if s.ends_with('/') {
        s.to_string()
    } else {
        format!("{s}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_as_sops_matches_them() {
        let l = VaultAllowlist::parse("https://vault.example.com:8200, http://127.0.0.1:8200/")
            .unwrap();
        assert!(l.allows("https://vault.example.com:8200"));
        assert!(l.allows("http://127.0.0.1:8200"));
        assert!(!l.allows("https://vault.example.com:82001"));
        assert!(!l.allows("https://vault.example.com.evil:8200"));
        assert!(!l.allows("http://127.0.0.1:8201"));
        assert!(VaultAllowlist::parse("all")
            .unwrap()
            .allows("http://anything"));
        assert!(!VaultAllowlist::parse("none")
            .unwrap()
            .allows("http://127.0.0.1:8200"));
        assert!(VaultAllowlist::parse("a,,b")
            .unwrap_err()
            .to_string()
            .contains("entry 2 is empty"));
    }
}
