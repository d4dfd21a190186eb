//! The controller's settings, with Bitnami's defaults, and parsers for the value syntaxes
//! its flags use (Go durations, `k=v,k2=v2` lists, RFC 1123 times with a numeric zone).
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result, Setting};

fn invalid(setting: Setting, problem: impl Into<String>) -> Error {
    Error::Setting {
        setting,
        problem: problem.into(),
    }
}

/// Which key is "newest" (`--key-order-priority`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyOrder {
    /// By the certificate's NotBefore (Bitnami's default, `CertNotBefore`).
    #[default]
    CertNotBefore,
    /// By the key Secret's creationTimestamp (`SecretCreationTimestamp`).
    SecretCreationTimestamp,
}

impl std::str::FromStr for KeyOrder {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "CertNotBefore" => Ok(Self::CertNotBefore),
            "SecretCreationTimestamp" => Ok(Self::SecretCreationTimestamp),
            other => Err(invalid(
                Setting::KeyOrderPriority,
                format!("{other:?} is not CertNotBefore or SecretCreationTimestamp"),
            )),
        }
    }
}

/// Which SealedSecrets the controller watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Namespaces {
    /// Every namespace (`--all-namespaces`, the default).
    All,
    /// These namespaces (the controller's own plus `--additional-namespaces`).
    Only(Vec<String>),
}

impl Namespaces {
    /// The namespaces to watch, as Bitnami's controller chooses them from
    /// `--all-namespaces` and `--additional-namespaces` (a comma list): every namespace
    /// when `all` is set and no additional ones are given; else the controller's `own`
    /// namespace and the additional ones, each once.
    pub fn select(all: bool, own: &str, additional: &str) -> Self {
        let additional: Vec<String> = ksec_text::split_list(additional)
            .map(String::from)
            .collect();
        if all && additional.is_empty() {
            return Namespaces::All;
        }
        let mut list = vec![own.to_string()];
        for ns in additional {
            if !list.contains(&ns) {
                list.push(ns);
            }
        }
        Namespaces::Only(list)
    }
}

/// The controller's own namespace, found as Bitnami's controller finds it:
/// `POD_NAMESPACE`, then the service account's namespace file, then `default`.
pub fn own_namespace() -> String {
    if let Ok(ns) = std::env::var("POD_NAMESPACE") {
        if !ns.trim().is_empty() {
            return ns.trim().to_string();
        }
    }
    std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".into())
}

/// This replica's identity for leader election and events: `HOSTNAME` (the pod's name),
/// else `ksec-controller-PID`.
pub fn own_identity() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("ksec-controller-{}", std::process::id()))
}

/// Parses a listen address as Bitnami's `--listen-addr` takes it (Go's syntax: `:8080`
/// means every interface; `127.0.0.1:8080`, `localhost:8080`).
pub fn parse_listen_addr(s: &str) -> Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Error::ListenAddress {
            value: s.to_string(),
        })
}

/// Everything the controller needs to run. [`Config::default`] holds Bitnami's defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// Namespace of the controller and of its key Secrets (`POD_NAMESPACE`).
    pub namespace: String,
    /// This replica's identity for leader election and events (pod name).
    pub identity: String,
    /// `--key-prefix`: name prefix of new key Secrets.
    pub key_prefix: String,
    /// `--key-size`: RSA modulus of new keys.
    pub key_size: usize,
    /// `--key-ttl`: validity of new certificates.
    pub key_ttl: Duration,
    /// `--my-cn`: common name of new certificates ("": an empty subject, as Bitnami's).
    pub my_cn: String,
    /// `--key-renew-period`: a new key when the newest is this old (zero disables).
    pub key_renew_period: Duration,
    /// `--key-cutoff-time`: a new key at start if the newest is older than this.
    pub key_cutoff_time: Option<SystemTime>,
    /// `--key-order-priority`.
    pub key_order: KeyOrder,
    /// `--privatekey-labels`: extra labels on new key Secrets.
    pub privatekey_labels: BTreeMap<String, String>,
    /// `--privatekey-annotations`: extra annotations on new key Secrets.
    pub privatekey_annotations: BTreeMap<String, String>,
    /// `--all-namespaces` / `--additional-namespaces`.
    pub namespaces: Namespaces,
    /// `--label-selector`: only SealedSecrets (and Secrets) matching it.
    pub label_selector: String,
    /// `--update-status`: write `status` (Synced condition, observedGeneration).
    pub update_status: bool,
    /// `--skip-recreate`: do not watch owned Secrets (no recreation after deletion).
    pub skip_recreate: bool,
    /// `--watch-for-secrets`: follow key Secrets created by others while running.
    pub watch_for_secrets: bool,
    /// `--accept-deprecated-v1-data`: open legacy `spec.data` SealedSecrets.
    pub accept_v1_data: bool,
    /// `--metrics-omit-secret-labels`: no `condition_info` series (they name SealedSecrets).
    pub metrics_omit_secret_labels: bool,
    /// `--max-unseal-retries`: retries with backoff before waiting for a change.
    pub max_unseal_retries: u32,
    /// `--listen-addr`.
    pub listen_addr: SocketAddr,
    /// `--listen-metrics-addr`.
    pub listen_metrics_addr: SocketAddr,
    /// `--rate-limit`: sustained requests per second to /v1/verify and /v1/rotate.
    pub rate_limit: u32,
    /// `--rate-limit-burst`: requests allowed above the rate at once.
    pub rate_limit_burst: u32,
    /// Leader election: how long a Lease is valid without renewal.
    pub lease_duration: Duration,
    /// Leader election: how often the leader renews (and followers retry).
    pub lease_renew: Duration,
    /// Name of the Lease (in [`Config::namespace`]).
    pub lease_name: String,
    /// Build revision for `sealed_secrets_controller_build_info`.
    pub revision: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            namespace: "kube-system".into(),
            identity: "ksec-controller".into(),
            key_prefix: ksec_seal::keys::KEY_PREFIX.into(),
            key_size: 4096,
            key_ttl: ksec_seal::keys::DEFAULT_TTL,
            my_cn: String::new(),
            key_renew_period: Duration::from_secs(30 * 24 * 3600),
            key_cutoff_time: None,
            key_order: KeyOrder::CertNotBefore,
            privatekey_labels: BTreeMap::new(),
            privatekey_annotations: BTreeMap::new(),
            namespaces: Namespaces::All,
            label_selector: String::new(),
            update_status: true,
            skip_recreate: false,
            watch_for_secrets: false,
            accept_v1_data: true,
            metrics_omit_secret_labels: false,
            max_unseal_retries: 5,
            listen_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            listen_metrics_addr: SocketAddr::from(([0, 0, 0, 0], 8081)),
            rate_limit: 2,
            rate_limit_burst: 2,
            lease_duration: Duration::from_secs(15),
            lease_renew: Duration::from_secs(5),
            lease_name: "sealed-secrets-controller".into(),
            revision: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

impl Config {
    /// The common name for new certificates: `--my-cn` as given. Bitnami's default is
    /// empty, and then the certificate's subject is empty too.
    pub fn common_name(&self) -> &str {
        &self.my_cn
    }

    /// Checks values that have no sensible meaning, with an error naming the setting.
    pub fn validate(&self) -> Result<()> {
        if !(1024..=16384).contains(&self.key_size) || !self.key_size.is_multiple_of(8) {
            return Err(invalid(
                Setting::KeySize,
                format!(
                    "{} is not a usable RSA size (use 2048, 3072 or 4096)",
                    self.key_size
                ),
            ));
        }
        let prefix_ok = !self.key_prefix.is_empty()
            && self.key_prefix.len() <= 245
            && self
                .key_prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !prefix_ok {
            return Err(invalid(
                Setting::KeyPrefix,
                format!(
                    "{:?} cannot start a Secret name (lower-case letters, digits, '-' and '.')",
                    self.key_prefix
                ),
            ));
        }
        if self.rate_limit == 0 {
            return Err(invalid(
                Setting::RateLimit,
                "must be at least 1 request per second",
            ));
        }
        if self.lease_renew >= self.lease_duration {
            return Err(invalid(
                Setting::Lease,
                "the renewal interval must be shorter than the lease duration",
            ));
        }
        Ok(())
    }
}

/// Parses a Go duration (`720h`, `1h30m`, `90s`, `1.5h`, `0`), as Bitnami's flags take
/// them: `ksec_text`'s parser, without its `d` unit, which Go (and so Bitnami's
/// controller) does not know; a Deployment's arguments stay valid for both controllers.
pub fn parse_go_duration(s: &str) -> Result<Duration> {
    let d = ksec_text::parse_duration(s)?;
    // Only the unit `d` contains a `d` in a valid duration.
    if s.contains('d') {
        return Err(Error::DaysInGoDuration {
            value: s.to_string(),
        });
    }
    Ok(d)
}

/// Parses `k=v,k2=v2` (Bitnami's `--privatekey-labels` / `--privatekey-annotations`) for
/// `setting`.
pub fn parse_key_values(setting: Setting, s: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in ksec_text::split_list(s) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| invalid(setting, format!("{item:?} is not key=value")))?;
        if k.trim().is_empty() {
            return Err(invalid(setting, format!("{item:?} has an empty key")));
        }
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// Parses an RFC 1123 time with a numeric zone (`Mon, 02 Jan 2006 15:04:05 -0700`), the
/// format Bitnami's `--key-cutoff-time` takes.
pub fn parse_rfc1123z(s: &str) -> Result<SystemTime> {
    let ts = k8s_openapi::jiff::fmt::strtime::parse("%a, %d %b %Y %H:%M:%S %z", s.trim())
        .and_then(|t| t.to_timestamp())
        .map_err(|_| {
            invalid(
                Setting::KeyCutoffTime,
                format!("{s:?} is not an RFC 1123 time with a numeric zone, e.g. \"Mon, 02 Jan 2006 15:04:05 -0700\""),
            )
        })?;
    Ok(SystemTime::from(ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_bitnamis_choice() {
        assert_eq!(Namespaces::select(true, "sealed", ""), Namespaces::All);
        assert_eq!(
            Namespaces::select(true, "sealed", "a,b,a"),
            Namespaces::Only(vec!["sealed".into(), "a".into(), "b".into()])
        );
        assert_eq!(
            Namespaces::select(false, "sealed", "sealed"),
            Namespaces::Only(vec!["sealed".into()])
        );
    }

    #[test]
    fn listen_addresses_in_gos_syntax() {
        assert_eq!(
            parse_listen_addr(":8080").unwrap(),
            "0.0.0.0:8080".parse().unwrap()
        );
        assert_eq!(parse_listen_addr("127.0.0.1:9000").unwrap().port(), 9000);
        let e = parse_listen_addr("nowhere").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"nowhere\" is not a listen address (examples: :8080, 127.0.0.1:8080)"
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_go_duration("720h").unwrap(),
            Duration::from_secs(720 * 3600)
        );
        assert_eq!(
            parse_go_duration("1h30m").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "h", "10", "10d", "1h-"] {
            let e = parse_go_duration(bad).unwrap_err().to_string();
            assert!(e.contains("not a duration"), "{bad}: {e}");
        }
        // Go's grammar allows a sign; a negative period is refused as such.
        let e = parse_go_duration("-1h").unwrap_err().to_string();
        assert!(e.contains("negative"), "{e}");
        // ksec's `d` unit is refused with the equivalent in hours.
        let e = parse_go_duration("30d").unwrap_err().to_string();
        assert!(e.contains("720h"), "{e}");
    }

    #[test]
    fn key_values_and_cutoff() {
        let m = parse_key_values(Setting::PrivateKeyLabels, "a=b, c=d=e,,").unwrap();
        assert_eq!(m["a"], "b");
        assert_eq!(m["c"], "d=e");
        assert_eq!(m.len(), 2);
        let e = parse_key_values(Setting::PrivateKeyLabels, "nope").unwrap_err();
        assert!(
            matches!(
                e,
                Error::Setting {
                    setting: Setting::PrivateKeyLabels,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("\"nope\" is not key=value"), "{e}");
        let t = parse_rfc1123z("Mon, 02 Jan 2006 15:04:05 -0700").unwrap();
        let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1136239445);
        assert!(parse_rfc1123z("2006-01-02").is_err());
    }

    proptest::proptest! {
        // Outside input (flags, environment): never a panic, and a parsed duration
        // round-trips through whole seconds.
        #[test]
        fn parsers_never_panic(s in ".{0,40}") {
            let _ = parse_go_duration(&s);
            let _ = parse_key_values(Setting::PrivateKeyAnnotations, &s);
            let _ = parse_rfc1123z(&s);
        }

        #[test]
        fn whole_hours_and_minutes(h in 0u64..100_000, m in 0u64..60) {
            let d = parse_go_duration(&format!("{h}h{m}m")).unwrap();
            proptest::prop_assert_eq!(d, Duration::from_secs(h * 3600 + m * 60));
        }
    }

    // The `ksec controller` command maps settings to its flags (its tests check the
    // flag names); here the setting is named.
    #[test]
    fn validation_names_the_setting() {
        let setting_of = |c: Config| match c.validate() {
            Err(Error::Setting { setting, .. }) => Some(setting),
            _ => None,
        };
        let c = Config {
            key_size: 100,
            ..Config::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("key size: 100"));
        assert_eq!(setting_of(c), Some(Setting::KeySize));
        let c = Config {
            key_prefix: "Bad_Prefix".into(),
            ..Config::default()
        };
        assert_eq!(setting_of(c), Some(Setting::KeyPrefix));
        let c = Config {
            rate_limit: 0,
            ..Config::default()
        };
        assert_eq!(setting_of(c), Some(Setting::RateLimit));
        Config::default().validate().unwrap();
    }
}
