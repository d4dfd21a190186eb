//! Which resource, namespace and object a request path names.

/// The object or collection a request path names.
#[derive(Clone, Debug)]
pub(super) struct Target {
    pub(super) resource: String,
    pub(super) namespace: String,
    pub(super) all_namespaces: bool,
    pub(super) name: Option<String>,
    pub(super) status: bool,
}

impl Target {
    /// `/api/v1[/namespaces/NS]/RES[/NAME[/status]]` or `/apis/G/V[/namespaces/NS]/RES[/NAME[/status]]`.
    pub(super) fn parse(path: &str) -> Option<Self> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, rest) = match parts.as_slice() {
            ["api", "v1", rest @ ..] => ("core".to_string(), rest),
            ["apis", g, _v, rest @ ..] => (g.to_string(), rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            // A namespace's own subresources: /api/v1/namespaces/NS/status.
            ["namespaces", _, "status" | "finalize"] => (None, rest),
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
            _ => (None, rest),
        };
        let (res, name, sub) = match rest {
            [res] => (*res, None, None),
            [res, name] => (*res, Some(name.to_string()), None),
            [res, name, sub] => (*res, Some(name.to_string()), Some(*sub)),
            _ => return None,
        };
        if sub.is_some_and(|s| s != "status") {
            return None;
        }
        Some(Self {
            resource: format!("{group}/{res}"),
            all_namespaces: namespace.is_none(),
            namespace: namespace.unwrap_or_default(),
            name,
            status: sub == Some("status"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_objects() {
        let t = Target::parse("/api/v1/namespaces/ns1/secrets/s1").unwrap();
        assert_eq!(
            (t.resource.as_str(), t.namespace.as_str()),
            ("core/secrets", "ns1")
        );
        assert_eq!(t.name.as_deref(), Some("s1"));
        let t = Target::parse("/apis/bitnami.com/v1alpha1/namespaces/a/sealedsecrets/x/status")
            .unwrap();
        assert!(t.status);
        let t = Target::parse("/api/v1/namespaces/team-a").unwrap();
        assert_eq!(t.resource, "core/namespaces");
        assert_eq!(t.name.as_deref(), Some("team-a"));
        let t = Target::parse("/api/v1/namespaces/team-a/status").unwrap();
        assert_eq!((t.resource.as_str(), t.status), ("core/namespaces", true));
        let t = Target::parse("/apis/apps/v1/deployments").unwrap();
        assert!(t.all_namespaces);
        assert!(Target::parse("/api/v1/namespaces/a/services/s/proxy/x").is_none());
    }
}
