//! Where AWS credentials come from, in the SDKs' order: the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), a profile of
//! the shared files (`AWS_PROFILE`, `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`;
//! static keys, or `role_arn` with `source_profile`), web identity
//! (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, as EKS service accounts get),
//! then, when configured, an STS AssumeRole on top. Temporary credentials are
//! refreshed five minutes before they expire.
//!
//! Not supported (say so rather than guess): EC2 instance metadata, the ECS
//! container endpoint, SSO profiles, `credential_process`.
use super::sigv4::{self, Credentials};
use super::KIND;
use crate::error::truncate;
use crate::{http, KeyError, Result, SecretBytes};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of credentials.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    Static(Credentials),
    WebIdentity {
        role_arn: String,
        token_file: PathBuf,
        session_name: String,
    },
    AssumeRole {
        base: Box<Source>,
        role_arn: String,
        session_name: String,
        external_id: Option<String>,
    },
}

/// Credentials and when they stop working (None: long-term keys).
#[derive(Clone, Debug)]
pub(crate) struct Timed {
    pub(crate) creds: Credentials,
    pub(crate) expires: Option<SystemTime>,
}

impl Timed {
    pub(crate) fn fresh(&self) -> bool {
        match self.expires {
            None => true,
            Some(t) => t > SystemTime::now() + Duration::from_secs(300),
        }
    }
}

type Profiles = HashMap<String, HashMap<String, String>>;

/// Parses an AWS shared config/credentials file (INI). In the config file,
/// sections are `[default]` and `[profile NAME]`.
pub(crate) fn parse_ini(text: &str, config_file: bool) -> Profiles {
    let mut out: Profiles = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(sec) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let sec = sec.trim();
            let name = if config_file {
                sec.strip_prefix("profile ").map(str::trim).unwrap_or(sec)
            } else {
                sec
            };
            current = Some(name.to_string());
            out.entry(name.to_string()).or_default();
        } else if let (Some(cur), Some((k, v))) = (&current, line.split_once('=')) {
            out.entry(cur.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Both shared files merged (credentials file wins for the same key).
pub(crate) fn load_profiles() -> Profiles {
    let config = std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".aws/config")));
    let creds = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".aws/credentials")));
    let mut all: Profiles = HashMap::new();
    for (path, is_config) in [(config, true), (creds, false)] {
        let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
            continue;
        };
        for (name, kv) in parse_ini(&text, is_config) {
            all.entry(name).or_default().extend(kv);
        }
    }
    all
}

fn session_name() -> String {
    format!(
        "ksec-{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    )
}

fn from_profile(profiles: &Profiles, name: &str, depth: u32) -> Result<Source> {
    let field = "aws_kms.profile";
    let p = profiles.get(name).ok_or_else(|| {
        KeyError::config(
            KIND,
            field,
            format!("profile `{name}` is in neither ~/.aws/config nor ~/.aws/credentials"),
        )
    })?;
    if depth > 4 {
        return Err(KeyError::config(
            KIND,
            field,
            format!("profile `{name}`: source_profile chain too long (a loop?)"),
        ));
    }
    if let Some(role_arn) = p.get("role_arn") {
        let base = if let Some(src) = p.get("source_profile") {
            if src == name {
                static_from(p, name)?
            } else {
                from_profile(profiles, src, depth + 1)?
            }
        } else if let Some(file) = p.get("web_identity_token_file") {
            return Ok(Source::WebIdentity {
                role_arn: role_arn.clone(),
                token_file: file.into(),
                session_name: p
                    .get("role_session_name")
                    .cloned()
                    .unwrap_or_else(session_name),
            });
        } else {
            return Err(KeyError::config(KIND, field, format!(
                "profile `{name}` has role_arn but neither source_profile nor web_identity_token_file (credential_source is not supported)"
            )));
        };
        return Ok(Source::AssumeRole {
            base: Box::new(base),
            role_arn: role_arn.clone(),
            session_name: p
                .get("role_session_name")
                .cloned()
                .unwrap_or_else(session_name),
            external_id: p.get("external_id").cloned(),
        });
    }
    static_from(p, name)
}

fn static_from(p: &HashMap<String, String>, name: &str) -> Result<Source> {
    match (p.get("aws_access_key_id"), p.get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(Source::Static(Credentials {
            access_key_id: id.clone(),
            secret_access_key: SecretBytes::from_slice(secret.as_bytes()),
            session_token: p.get("aws_session_token").map(|t| SecretBytes::from_slice(t.as_bytes())),
        })),
        _ => Err(KeyError::config(KIND, "aws_kms.profile", format!(
            "profile `{name}` has no aws_access_key_id/aws_secret_access_key (SSO and credential_process profiles are not supported)"
        ))),
    }
}

/// Resolves the credential source: an explicit profile, else the environment, else
/// web identity, else `AWS_PROFILE`/`default`; then `role_arn` on top when given.
pub(crate) fn resolve(
    profile: Option<&str>,
    role_arn: Option<&str>,
    session: Option<&str>,
    external_id: Option<&str>,
) -> Result<Source> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let base = if let Some(name) = profile {
        from_profile(&load_profiles(), name, 0)?
    } else if let (Some(id), Some(secret)) =
        (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
    {
        Source::Static(Credentials {
            access_key_id: id,
            secret_access_key: SecretBytes::new(secret.into_bytes()),
            session_token: env("AWS_SESSION_TOKEN").map(|t| SecretBytes::new(t.into_bytes())),
        })
    } else if let (Some(file), Some(role)) =
        (env("AWS_WEB_IDENTITY_TOKEN_FILE"), env("AWS_ROLE_ARN"))
    {
        Source::WebIdentity {
            role_arn: role,
            token_file: file.into(),
            session_name: env("AWS_ROLE_SESSION_NAME").unwrap_or_else(session_name),
        }
    } else {
        let name = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let profiles = load_profiles();
        if !profiles.contains_key(&name) {
            return Err(KeyError::Auth {
                backend: KIND,
                message: "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN (instance metadata is not supported)".into(),
            });
        }
        from_profile(&profiles, &name, 0)?
    };
    Ok(match role_arn {
        Some(r) => Source::AssumeRole {
            base: Box::new(base),
            role_arn: r.to_string(),
            session_name: session.map(str::to_string).unwrap_or_else(session_name),
            external_id: external_id.map(str::to_string),
        },
        None => base,
    })
}

/// Talks to STS for the temporary-credential sources.
pub(crate) struct Sts<'a> {
    pub(crate) http: &'a reqwest::Client,
    pub(crate) endpoint: &'a str,
    pub(crate) region: &'a str,
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The text of the first `<tag>…</tag>` (STS answers in XML).
fn xml_tag<'x>(xml: &'x str, tag: &str) -> Option<&'x str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(xml[start..end].trim())
}

/// `2026-11-26T19:00:00Z` (or with fractional seconds) → SystemTime.
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // days_from_civil
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

impl Sts<'_> {
    pub(crate) async fn credentials(&self, source: &Source) -> Result<Timed> {
        match source {
            Source::Static(c) => Ok(Timed {
                creds: c.clone(),
                expires: None,
            }),
            Source::WebIdentity {
                role_arn,
                token_file,
                session_name,
            } => {
                let token = std::fs::read(token_file).map_err(|e| {
                    KeyError::config(
                        KIND,
                        "AWS_WEB_IDENTITY_TOKEN_FILE",
                        format!("cannot read {}: {e}", token_file.display()),
                    )
                })?;
                let token = SecretBytes::new(token);
                let token_text = String::from_utf8_lossy(token.expose().trim_ascii()).into_owned();
                let body = SecretBytes::new(
                    form_encode(&[
                        ("Action", "AssumeRoleWithWebIdentity"),
                        ("Version", "2011-06-15"),
                        ("RoleArn", role_arn),
                        ("RoleSessionName", session_name),
                        ("WebIdentityToken", &token_text),
                    ])
                    .into_bytes(),
                );
                self.post(None, body).await
            }
            Source::AssumeRole {
                base,
                role_arn,
                session_name,
                external_id,
            } => {
                let base = Box::pin(self.credentials(base)).await?;
                let mut pairs = vec![
                    ("Action", "AssumeRole"),
                    ("Version", "2011-06-15"),
                    ("RoleArn", role_arn.as_str()),
                    ("RoleSessionName", session_name.as_str()),
                ];
                if let Some(x) = external_id {
                    pairs.push(("ExternalId", x));
                }
                self.post(
                    Some(&base.creds),
                    SecretBytes::new(form_encode(&pairs).into_bytes()),
                )
                .await
            }
        }
    }

    async fn post(&self, signer: Option<&Credentials>, body: SecretBytes) -> Result<Timed> {
        let url = reqwest::Url::parse(self.endpoint).map_err(|e| {
            KeyError::config(
                KIND,
                "AWS_ENDPOINT_URL_STS",
                format!("`{}`: {e}", self.endpoint),
            )
        })?;
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let ctype = "application/x-www-form-urlencoded; charset=utf-8";
        let mut req = self.http.post(url.clone()).header("content-type", ctype);
        if let Some(c) = signer {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            for (k, v) in sigv4::sign(
                c,
                self.region,
                "sts",
                "POST",
                url.path(),
                "",
                &[("content-type", ctype), ("host", &host)],
                body.expose(),
                now,
            ) {
                req = req.header(k, v);
            }
        }
        let resp = req
            .body(body.expose().to_vec())
            .send()
            .await
            .map_err(|e| http::transport_error(KIND, self.endpoint, e))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| http::transport_error(KIND, self.endpoint, e))?;
        if status != 200 {
            let msg = xml_tag(&text, "Message").unwrap_or(&text);
            let code = xml_tag(&text, "Code").unwrap_or("");
            return Err(if status >= 500 || code == "Throttling" {
                KeyError::Service {
                    backend: KIND,
                    status: Some(status),
                    message: truncate(&format!("STS: {code} {msg}")),
                    transient: true,
                }
            } else {
                KeyError::Auth {
                    backend: KIND,
                    message: truncate(&format!("STS refused to assume the role: {code} {msg}")),
                }
            });
        }
        let get = |tag: &str| {
            xml_tag(&text, tag)
                .map(str::to_string)
                .ok_or_else(|| KeyError::Service {
                    backend: KIND,
                    status: Some(status),
                    message: format!("STS answer without {tag}"),
                    transient: false,
                })
        };
        Ok(Timed {
            creds: Credentials {
                access_key_id: get("AccessKeyId")?,
                secret_access_key: SecretBytes::new(get("SecretAccessKey")?.into_bytes()),
                session_token: Some(SecretBytes::new(get("SessionToken")?.into_bytes())),
            },
            expires: xml_tag(&text, "Expiration").and_then(parse_rfc3339),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_profiles() {
        let cfg = "[default]\nregion = eu-west-1\n[profile dev]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\n";
        let creds = "[base]\naws_access_key_id = AKIA1\naws_secret_access_key = s3cr3t\n";
        let mut all = parse_ini(cfg, true);
        for (k, v) in parse_ini(creds, false) {
            all.entry(k).or_default().extend(v);
        }
        assert_eq!(all["default"]["region"], "eu-west-1");
        match from_profile(&all, "dev", 0).unwrap() {
            Source::AssumeRole { base, role_arn, .. } => {
                assert_eq!(role_arn, "arn:aws:iam::1:role/r");
                assert!(matches!(*base, Source::Static(ref c) if c.access_key_id == "AKIA1"));
            }
            other => panic!("{other:?}"),
        }
        let e = from_profile(&all, "nope", 0).unwrap_err().to_string();
        assert!(e.contains("aws_kms.profile") && e.contains("nope"), "{e}");
        let e = from_profile(&all, "default", 0).unwrap_err().to_string();
        assert!(!e.contains("s3cr3t"));
    }

    #[test]
    fn xml_and_times() {
        let x = "<A><Credentials><AccessKeyId>ASIA</AccessKeyId><Expiration>2015-08-30T12:36:00Z</Expiration></Credentials></A>";
        assert_eq!(xml_tag(x, "AccessKeyId"), Some("ASIA"));
        let t = parse_rfc3339(xml_tag(x, "Expiration").unwrap()).unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_440_938_160
        );
        assert_eq!(form_encode(&[("a b", "x/y=z")]), "a%20b=x%2Fy%3Dz");
    }
}
