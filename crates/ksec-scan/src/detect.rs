//! Value detectors: credentials recognised by their format (prefixes, alphabets,
//! lengths and, where the issuer defines one, checksums), on a value and on its base64
//! decoding.
//!
//! A detection names the credential type and at most its public type prefix (`AKIA`,
//! `ghp_`); callers never see which characters matched.
use base64::Engine;
use regex::Regex;
use std::sync::OnceLock;

/// What a value was recognised as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detection {
    /// Credential type ("AWS access key id").
    pub what: &'static str,
    /// Its public type prefix, when the format has one.
    pub prefix: Option<&'static str>,
    /// Found in the base64 decoding of the value.
    pub decoded: bool,
}

impl Detection {
    /// "an AWS access key id (AKIA…)", for messages.
    pub fn describe(&self) -> String {
        let mut s = format!("a value that is {}", self.what);
        if let Some(p) = self.prefix {
            s.push_str(&format!(" ({p}…)"));
        }
        if self.decoded {
            s.push_str(", base64-encoded");
        }
        s
    }
}

struct Detector {
    what: &'static str,
    prefix: Option<&'static str>,
    re: Regex,
    /// Extra check on the match (checksums, decodings).
    verify: fn(&str) -> bool,
}

fn always(_: &str) -> bool {
    true
}

fn detectors() -> &'static [Detector] {
    static D: OnceLock<Vec<Detector>> = OnceLock::new();
    D.get_or_init(|| {
        let d = |what, prefix, re: &str, verify| Detector {
            what,
            prefix,
            re: Regex::new(re).expect("detector regex"),
            verify,
        };
        vec![
            d(
                "a private key",
                None,
                r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----\s*[A-Za-z0-9+/=:\s-]{16}",
                always,
            ),
            d(
                "an AWS access key id",
                Some("AKIA"),
                r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
                always,
            ),
            d(
                "a Google API key",
                Some("AIza"),
                r"\bAIza[0-9A-Za-z_-]{35}\b",
                always,
            ),
            d(
                "an Azure storage account key",
                Some("AccountKey="),
                r"AccountKey=[A-Za-z0-9+/]{86}==",
                always,
            ),
            d(
                "a GitHub token",
                Some("gh*_"),
                r"\bgh[pousr]_[A-Za-z0-9]{36}\b",
                github_checksum,
            ),
            d(
                "a GitHub fine-grained token",
                Some("github_pat_"),
                r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b",
                always,
            ),
            d(
                "a GitLab token",
                Some("glpat-"),
                r"\bglpat-[A-Za-z0-9_-]{20,}",
                always,
            ),
            d(
                "a Slack token",
                Some("xox*-"),
                r"\bxox[abposr]-[0-9]{6,}-[0-9A-Za-z-]{8,}",
                always,
            ),
            d(
                "a Slack webhook URL",
                Some("https://hooks.slack.com/services/"),
                r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,}",
                always,
            ),
            d(
                "a Stripe live key",
                Some("sk_live_"),
                r"\b[rs]k_live_[0-9A-Za-z]{24,}\b",
                always,
            ),
            d(
                "a JSON Web Token",
                Some("eyJ"),
                r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
                jwt_header,
            ),
            d(
                "a URL with a password",
                None,
                r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@]+:([^\s/@]+)@[^\s/@]",
                url_password_is_literal,
            ),
            d(
                "a bearer token",
                Some("Bearer"),
                r"(?i)^\s*bearer\s+[A-Za-z0-9._~+/=-]{8,}\s*$",
                bearer_is_literal,
            ),
        ]
    })
}

/// CRC32 (IEEE) of GitHub's token body, base62-encoded, is the token's last 6 characters.
fn github_checksum(m: &str) -> bool {
    let body = &m[4..];
    let (random, check) = body.split_at(30);
    let mut crc = crc32(random.as_bytes());
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut enc = [b'0'; 6];
    for slot in enc.iter_mut().rev() {
        *slot = ALPHABET[(crc % 62) as usize];
        crc /= 62;
    }
    enc == check.as_bytes()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A JWT's header decodes to JSON that names an algorithm.
fn jwt_header(m: &str) -> bool {
    let header = m.split('.').next().unwrap_or("");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("alg").is_some())
}

fn url_password_is_literal(m: &str) -> bool {
    let Some(creds) = m.split("://").nth(1) else {
        return false;
    };
    let password = creds
        .split('@')
        .next()
        .and_then(|c| c.split_once(':'))
        .map(|(_, p)| p)
        .unwrap_or("");
    !password.is_empty() && !is_reference(password) && !is_placeholder(password)
}

fn bearer_is_literal(m: &str) -> bool {
    let token = m.split_whitespace().nth(1).unwrap_or("");
    !is_reference(token) && !is_placeholder(token)
}

/// `$(VAR)`, `${VAR}`, `{{ .Values.x }}`, `%(name)s`: a reference, not a value.
pub fn is_reference(s: &str) -> bool {
    s.contains("$(") || s.contains("${") || s.contains("{{") || s.contains("%(")
}

/// `<password>`, `***`, `xxxx`, `changeme`-style stand-ins.
pub fn is_placeholder(s: &str) -> bool {
    let t = s.trim();
    if t.starts_with('<') && t.ends_with('>') {
        return true;
    }
    let mut chars = t.chars();
    match chars.next() {
        Some(c) if matches!(c, '*' | 'x' | 'X' | '.' | '-' | '_') => chars.all(|d| d == c),
        _ => false,
    }
}

/// Runs every detector on `value`, then on its base64 decoding when it is base64 text.
pub fn detect(value: &str) -> Option<Detection> {
    detect_plain(value).or_else(|| {
        let decoded = decode_base64_text(value)?;
        detect_plain(&decoded).map(|d| Detection { decoded: true, ..d })
    })
}

/// Runs the detectors on `value` as it is.
pub fn detect_plain(value: &str) -> Option<Detection> {
    // Regexes are linear-time; this bound keeps a huge value from costing seconds.
    let value = if value.len() > 64 * 1024 {
        &value[..floor_char_boundary(value, 64 * 1024)]
    } else {
        value
    };
    detectors().iter().find_map(|d| {
        d.re.find_iter(value)
            .any(|m| (d.verify)(m.as_str()))
            .then_some(Detection {
                what: d.what,
                prefix: d.prefix,
                decoded: false,
            })
    })
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The UTF-8 text a base64 value decodes to, if it is base64 of text.
pub fn decode_base64_text(value: &str) -> Option<String> {
    let t = value.trim();
    if t.len() < 12 || t.len() > 1024 * 1024 {
        return None;
    }
    let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
    ];
    engines
        .iter()
        .find_map(|e| e.decode(&compact).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| s.chars().all(|c| !c.is_control() || c.is_whitespace()))
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    let mut n = 0usize;
    for b in s.bytes() {
        counts[b as usize] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// A random-looking token: long enough, one word, from a key alphabet, high entropy.
pub fn high_entropy(s: &str) -> bool {
    let t = s.trim();
    t.len() >= 16
        && t.len() <= 4096
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=_-.~".contains(c))
        && entropy(t) >= 3.5
}

/// A GitHub token with a valid checksum over 30 body characters, built the way GitHub
/// builds them (for tests and corpora).
pub(crate) fn github_token(random30: &str) -> String {
    let mut crc = crc32(random30.as_bytes());
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut enc = String::new();
    for _ in 0..6 {
        enc.insert(0, A[(crc % 62) as usize] as char);
        crc /= 62;
    }
    format!("ghp_{random30}{enc}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_formats() {
        let cases = [
            ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x\n",
                "a private key",
            ),
            ("postgres://app:s3cr3t@db:5432/app", "a URL with a password"),
            ("Bearer abc123def", "a bearer token"),
            (
                "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
                "a Google API key",
            ),
            ("glpat-abcdefghij0123456789", "a GitLab token"),
            ("xoxb-123456789012-abcdefghijkl", "a Slack token"),
            ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "a Stripe live key"),
        ];
        for (v, what) in cases {
            assert_eq!(detect(v).map(|d| d.what), Some(what), "{what}");
        }
        let tok = github_token("abcdefghijklmnopqrstuvwxyz0123");
        assert_eq!(detect(&tok).map(|d| d.what), Some("a GitHub token"));
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(detect(jwt).map(|d| d.what), Some("a JSON Web Token"));
    }

    #[test]
    fn checksums_and_references_reject_look_alikes() {
        let mut bad = github_token("abcdefghijklmnopqrstuvwxyz0123");
        bad.replace_range(10..11, "Z");
        assert_eq!(detect(&bad), None, "a GitHub token with a wrong checksum");
        for v in [
            "postgres://app:$(DB_PASSWORD)@db/app",
            "postgres://app:${DB_PASSWORD}@db/app",
            "https://user:****@example.com",
            "https://example.com/path",
            "AKIA",
            "Bearer ${TOKEN}",
            "eyJhbGciOi.not.a.jwt",
        ] {
            assert_eq!(detect(v), None, "{v}");
        }
    }

    #[test]
    fn base64_decoding() {
        use base64::Engine;
        let enc = base64::engine::general_purpose::STANDARD.encode("AKIAIOSFODNN7EXAMPLE");
        let d = detect(&enc).unwrap();
        assert!(d.decoded);
        assert!(d.describe().contains("AKIA…"));
        assert!(!d.describe().contains("IOSFODNN7"));
    }

    #[test]
    fn entropy_bounds() {
        assert!(high_entropy("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
        assert!(!high_entropy("aaaaaaaaaaaaaaaaaaaa"));
        assert!(!high_entropy("short"));
        assert!(!high_entropy("a sentence with spaces in it"));
    }
}
