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
