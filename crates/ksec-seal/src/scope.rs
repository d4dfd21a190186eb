//! Sealing scopes: which Secret name and namespace a sealed value may be opened for.
//!
//! The scope is bound into every value as the RSA-OAEP label, so a value sealed for
//! `prod/db` cannot be replayed into another namespace or name: decryption fails.
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Annotation that makes a Secret namespace-wide (value exactly `"true"`).
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// Annotation that makes a Secret cluster-wide (value exactly `"true"`; wins over namespace-wide).
pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";

/// Where a sealed value may be unsealed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Only into a Secret of this exact namespace and name (label `namespace/name`).
    #[default]
    Strict,
    /// Into any Secret name within the namespace (label `namespace`).
    NamespaceWide,
    /// Into any namespace and name (empty label).
    ClusterWide,
}

impl Scope {
    /// The RSA-OAEP label for this scope.
    pub fn label(self, namespace: &str, name: &str) -> Vec<u8> {
        match self {
            Scope::Strict => format!("{namespace}/{name}").into_bytes(),
            Scope::NamespaceWide => namespace.as_bytes().to_vec(),
            Scope::ClusterWide => Vec::new(),
        }
    }

    /// The scope that annotations select, as Sealed Secrets reads them.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Scope {
        let is_true = |k: &str| annotations.get(k).is_some_and(|v| v == "true");
        if is_true(CLUSTER_WIDE_ANNOTATION) {
            Scope::ClusterWide
        } else if is_true(NAMESPACE_WIDE_ANNOTATION) {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        }
    }

    /// Rewrites `annotations` so that they select this scope (and nothing else).
    pub fn apply_to(self, annotations: &mut BTreeMap<String, String>) {
        annotations.remove(NAMESPACE_WIDE_ANNOTATION);
        annotations.remove(CLUSTER_WIDE_ANNOTATION);
        match self {
            Scope::Strict => {}
            Scope::NamespaceWide => {
                annotations.insert(NAMESPACE_WIDE_ANNOTATION.into(), "true".into());
            }
            Scope::ClusterWide => {
                annotations.insert(CLUSTER_WIDE_ANNOTATION.into(), "true".into());
            }
        }
    }

    /// True when unsealing needs the namespace.
    pub fn needs_namespace(self) -> bool {
        self != Scope::ClusterWide
    }

    /// True when unsealing needs the name.
    pub fn needs_name(self) -> bool {
        self == Scope::Strict
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        })
    }
}

impl FromStr for Scope {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "strict" => Ok(Scope::Strict),
            "namespace-wide" => Ok(Scope::NamespaceWide),
            "cluster-wide" => Ok(Scope::ClusterWide),
            other => Err(crate::Error::UnknownScope {
                value: other.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annos(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_per_scope() {
        assert_eq!(Scope::Strict.label("ns", "n"), b"ns/n");
        assert_eq!(Scope::NamespaceWide.label("ns", "n"), b"ns");
        assert_eq!(Scope::ClusterWide.label("ns", "n"), b"");
    }

    #[test]
    fn annotations_select_scope_and_cluster_wide_wins() {
        assert_eq!(Scope::from_annotations(&annos(&[])), Scope::Strict);
        assert_eq!(
            Scope::from_annotations(&annos(&[(NAMESPACE_WIDE_ANNOTATION, "true")])),
            Scope::NamespaceWide
        );
        assert_eq!(
            Scope::from_annotations(&annos(&[
                (NAMESPACE_WIDE_ANNOTATION, "true"),
                (CLUSTER_WIDE_ANNOTATION, "true")
            ])),
            Scope::ClusterWide
        );
        // Only the exact value "true" counts.
        assert_eq!(
            Scope::from_annotations(&annos(&[(CLUSTER_WIDE_ANNOTATION, "True")])),
            Scope::Strict
        );
        assert_eq!(
            Scope::from_annotations(&annos(&[(CLUSTER_WIDE_ANNOTATION, "yes")])),
            Scope::Strict
        );
    }

    #[test]
    fn apply_to_round_trips() {
        for s in [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide] {
            let mut a = annos(&[(CLUSTER_WIDE_ANNOTATION, "true"), ("other", "x")]);
            s.apply_to(&mut a);
            assert_eq!(Scope::from_annotations(&a), s);
            assert_eq!(a.get("other").map(String::as_str), Some("x"));
            assert_eq!(s.to_string().parse::<Scope>().unwrap(), s);
        }
        assert!("wide".parse::<Scope>().is_err());
    }
}
