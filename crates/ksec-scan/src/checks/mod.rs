//! The rules, one module per family of objects. [`check_object`] routes each object
//! to the rules of its kind; objects that are not Kubernetes objects (Helm values,
//! plain configuration) get the credential detectors only.
pub(crate) mod config;
pub(crate) mod controlplane;
pub(crate) mod cross;
pub(crate) mod encrypted;
pub(crate) mod rbac;
pub(crate) mod secret;
pub(crate) mod workload;

use crate::scanner::{Obj, Scanner, Source};
use crate::yaml::Doc;
use serde_json::Value;

pub(crate) use cross::CrossRefs;

/// The annotation that opts an object out of rules: `ksec.dev/scan-ignore: KSEC-A,KSEC-B`.
pub const IGNORE_ANNOTATION: &str = "ksec.dev/scan-ignore";

pub(crate) fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

pub(crate) fn check_object(s: &mut Scanner, source: &Source, doc: &Doc, base: String, v: &Value) {
    let (Some(kind), Some(_api)) = (str_at(v, "kind"), str_at(v, "apiVersion")) else {
        config::scan_value(s, source, doc, &base, v);
        return;
    };
    s.report.summary.objects += 1;
    let meta = v.get("metadata");
    let ignore = meta
        .and_then(|m| m.get("annotations"))
        .and_then(|a| str_at(a, IGNORE_ANNOTATION))
        .map(|l| ksec_text::split_list(l).map(str::to_string).collect())
        .unwrap_or_default();
    let obj = Obj {
        doc,
        base,
        value: v,
        source,
        kind,
        namespace: meta.and_then(|m| str_at(m, "namespace")),
        name: meta.and_then(|m| str_at(m, "name")).unwrap_or(""),
        ignore,
    };
    match kind {
        "Secret" => secret::plaintext_secret(s, &obj),
        "ConfigMap" => secret::configmap(s, &obj),
        "SealedSecret" => encrypted::sealed_secret(s, &obj),
        "ServiceAccount" => s.refs.add_service_account(&obj),
        "Role" | "ClusterRole" => s.refs.add_role(&obj),
        "RoleBinding" | "ClusterRoleBinding" => s.refs.add_binding(&obj),
        "EncryptionConfiguration" => controlplane::encryption_config_object(s, &obj),
        "Policy" if str_at(v, "apiVersion").is_some_and(|a| a.starts_with("audit.k8s.io/")) => {
            controlplane::audit_policy(s, &obj, &obj.loc(), "")
        }
        "ControlPlaneInfo" => controlplane::control_plane_info(s, &obj),
        "Pod" => {
            controlplane::apiserver_pod(s, &obj);
            workload::check(s, &obj, "spec");
        }
        _ => {
            if let Some(prefix) = workload::pod_spec_prefix(kind) {
                workload::check(s, &obj, prefix);
            } else {
                config::scan_object(s, &obj);
            }
        }
    }
}
