//! Just enough of kubeconfig to learn the default namespace, as kubeseal does when a
//! Secret has none: `--namespace`, else the current context's namespace, else `default`.
use std::path::PathBuf;

/// The namespace of `context` (or the current context) in the kubeconfig, `default`
/// when the context sets none, or `None` when there is no kubeconfig at all.
pub fn default_namespace(
    explicit: Option<&std::path::Path>,
    context: Option<&str>,
) -> Option<String> {
    let path = explicit.map(PathBuf::from).or_else(|| {
        std::env::var_os("KUBECONFIG")
            .and_then(|v| std::env::split_paths(&v).find(|p| p.exists()))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")))
    })?;
    let text = std::fs::read(&path).ok()?;
    let docs = ksec_seal::docs::parse_documents(&text).ok()?;
    let cfg = docs.first()?;
    let current = context
        .map(str::to_string)
        .or_else(|| {
            cfg.get("current-context")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let ns = cfg
        .get("contexts")
        .and_then(|c| c.as_array())
        .and_then(|list| {
            list.iter()
                .find(|c| c.get("name").and_then(|n| n.as_str()) == Some(current.as_str()))
        })
        .and_then(|c| c.pointer("/context/namespace"))
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    Some(ns.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_current_context_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config");
        std::fs::write(
            &p,
            "current-context: a\ncontexts:\n- name: a\n  context: {namespace: team-a}\n- name: b\n  context: {}\n",
        )
        .unwrap();
        assert_eq!(default_namespace(Some(&p), None).as_deref(), Some("team-a"));
        assert_eq!(
            default_namespace(Some(&p), Some("b")).as_deref(),
            Some("default")
        );
        assert_eq!(
            default_namespace(Some(&dir.path().join("missing")), None),
            None
        );
    }
}
