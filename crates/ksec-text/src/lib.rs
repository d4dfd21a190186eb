//! The small text values that Kubernetes tools take in flags and configuration files,
//! parsed one way for the whole workspace:
//!
//! - [`parse_duration`] / [`parse_signed_duration`]: Go's `time.ParseDuration` syntax
//!   (`720h`, `1h30m`, `1.5s`, `500ms`, `0`), as kube-apiserver's `metav1.Duration` and
//!   Bitnami's flags read it, plus `d` for days (`30d`), which `ksec keys` accepts.
//! - [`split_list`]: comma-separated lists (`a, b,,c` → `a`, `b`, `c`), as sops, kubeseal and
//!   the controller read their list flags and variables.
//! - [`error_chain`]: an error and its causes on one line (`a: b: c`), for messages.
//!
//! ```
//! use std::time::Duration;
//! assert_eq!(ksec_text::parse_duration("1h30m")?, Duration::from_secs(5400));
//! assert_eq!(ksec_text::parse_duration("30d")?, Duration::from_secs(30 * 86_400));
//! assert!(ksec_text::parse_duration("10y").is_err());
//! let keys: Vec<&str> = ksec_text::split_list(" age1a, age1b ,").collect();
//! assert_eq!(keys, ["age1a", "age1b"]);
//! # Ok::<(), ksec_text::Error>(())
//! ```
//!
//! Written by hand: Go's exact grammar (several units in one value, fractions, the
//! 292-year overflow limit) is what matters here, and no crate parses it exactly.
#![forbid(unsafe_code)]

mod duration;

pub use duration::{parse_duration, parse_signed_duration};

/// What is wrong with a value. Messages quote the value (these are never secrets) and give
/// an example of a valid one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not a duration at all, or a unit that Go does not know.
    #[error("{value:?} is not a duration: {reason} (examples: 720h, 1h30m, 90s, 30d, 0)")]
    InvalidDuration {
        /// The text as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A duration longer than Go's `time.Duration` can hold (about 292 years).
    #[error("{value:?} is too long a duration (at most about 292 years)")]
    DurationOverflow {
        /// The text as given.
        value: String,
    },
    /// A negative duration where only durations of zero or more make sense.
    #[error("{value:?} is negative; a duration here must be zero or more")]
    NegativeDuration {
        /// The text as given.
        value: String,
    },
}

/// Splits a comma-separated list, trimming spaces around items and dropping empty items.
pub fn split_list(s: &str) -> impl Iterator<Item = &str> + '_ {
    s.split(',').map(str::trim).filter(|i| !i.is_empty())
}

/// An error and its causes on one line (`a: b: c`): the causes often say what
/// happened (`connection refused`, a TLS problem) where the error itself does not.
/// A cause whose text the line already shows is left out: some errors (kube-rs's,
/// hyper's, tonic's) print their source in their own message.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chain_joins_the_causes() {
        let inner = std::io::Error::other("connection refused");
        assert_eq!(error_chain(&Wrapped(inner)), "wrapped: connection refused");
    }

    #[test]
    fn error_chain_leaves_out_a_cause_already_shown() {
        let inner = std::io::Error::other("connection refused");
        let outer = Wrapped(std::io::Error::other(Repeats(inner)));
        // Repeats prints its cause itself; the cause is not added a second time.
        assert_eq!(error_chain(&outer), "wrapped: connect: connection refused");
    }

    #[derive(Debug)]
    struct Repeats(std::io::Error);
    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "connect: {}", self.0)
        }
    }
    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[derive(Debug)]
    struct Wrapped(std::io::Error);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn lists_drop_empty_items_and_spaces() {
        assert_eq!(split_list("").count(), 0);
        assert_eq!(split_list(" , ,").count(), 0);
        assert_eq!(split_list("a").collect::<Vec<_>>(), ["a"]);
        assert_eq!(
            split_list("a=1, b = 2 ,,c").collect::<Vec<_>>(),
            ["a=1", "b = 2", "c"]
        );
    }
}
