//! AWS Signature Version 4 (the header form) for JSON and query-protocol POSTs.
//!
//! `signature = HMAC(kSigning, "AWS4-HMAC-SHA256\n" date "\n" scope "\n" hex(sha256(canonical request)))`
//! with `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service), "aws4_request")`.
use crate::SecretBytes;
use ksec_crypto::hash::sha256;
use ksec_crypto::hmac::hmac_sha256;

/// Access key, secret key and (for temporary credentials) a session token.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: SecretBytes,
    pub(crate) session_token: Option<SecretBytes>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `20150830T123600Z` for a Unix time.
pub(crate) fn amz_date(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Signs a request. `headers` are (lower-case name, value) and must include `host`;
/// `x-amz-date` and, with a session token, `x-amz-security-token` are added here.
/// Returns the headers to send besides the given ones (without `host`).
// The arguments are exactly the inputs the SigV4 specification names.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign(
    creds: &Credentials,
    region: &str,
    service: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    payload: &[u8],
    unix_time: u64,
) -> Vec<(String, String)> {
    let date_time = amz_date(unix_time);
    let date = &date_time[..8];
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    all.push(("x-amz-date".into(), date_time.clone()));
    let token = creds
        .session_token
        .as_ref()
        .map(|t| String::from_utf8_lossy(t.expose()).into_owned());
    if let Some(t) = &token {
        all.push(("x-amz-security-token".into(), t.clone()));
    }
    all.sort();
    let canonical_headers: String = all.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = all
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
        hex(&sha256(payload))
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
        hex(&sha256(canonical_request.as_bytes()))
    );
    let mut k_secret = b"AWS4".to_vec();
    k_secret.extend_from_slice(creds.secret_access_key.expose());
    let k_secret = SecretBytes::new(k_secret);
    let k_date = hmac_sha256(k_secret.expose(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    let signature = hex(&hmac_sha256(&k_signing, string_to_sign.as_bytes()));
    let mut out = vec![
        (
            "authorization".to_string(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                creds.access_key_id
            ),
        ),
        ("x-amz-date".to_string(), date_time),
    ];
    if let Some(t) = token {
        out.push(("x-amz-security-token".into(), t));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: SecretBytes::from_slice(b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: None,
        }
    }

    #[test]
    fn dates() {
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
    }

    // The "get-vanilla" case of AWS's published SigV4 test suite.
    #[test]
    fn aws_test_suite_get_vanilla() {
        let h = sign(
            &example(),
            "us-east-1",
            "service",
            "GET",
            "/",
            "",
            &[("host", "example.amazonaws.com")],
            b"",
            1_440_938_160,
        );
        assert_eq!(
            h[0].1,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    // The "post-x-www-form-urlencoded" case of the same suite.
    #[test]
    fn aws_test_suite_post_form() {
        let h = sign(
            &example(),
            "us-east-1",
            "service",
            "POST",
            "/",
            "",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("host", "example.amazonaws.com"),
            ],
            b"Param1=value1",
            1_440_938_160,
        );
        assert!(
            h[0].1.ends_with(
                "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
            ),
            "{}",
            h[0].1
        );
    }
}
