//! Workloads: credentials in environment variables (C-0012/C-0259), Secrets consumed
//! as environment variables (C-0207) or mounted (C-0255), and the facts the
//! cross-object rules need (service account, token automount).
use super::config::{self, judge};
use super::cross::Workload;
use crate::finding::Severity;
use crate::rules;
use crate::scanner::{Obj, Scanner};
use serde_json::Value;

/// Where the pod spec sits in an object of this kind.
pub(crate) fn pod_spec_prefix(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Pod" => "spec",
        "Deployment"
        | "ReplicaSet"
        | "DaemonSet"
        | "StatefulSet"
        | "Job"
        | "ReplicationController" => "spec.template.spec",
        "CronJob" => "spec.jobTemplate.spec.template.spec",
        "PodTemplate" => "template.spec",
        _ => return None,
    })
}

fn at<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(v, |v, k| v.get(k))
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

pub(crate) fn check(s: &mut Scanner, obj: &Obj<'_>, prefix: &str) {
    let Some(spec) = at(obj.value, prefix) else {
        return;
    };
    let loc = obj.loc();
    let secret_volumes: Vec<&str> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| {
            v.get("secret").is_some()
                || v.pointer("/projected/sources")
                    .and_then(Value::as_array)
                    .is_some_and(|srcs| srcs.iter().any(|s| s.get("secret").is_some()))
        })
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect();
    for list in CONTAINER_LISTS {
        let Some(containers) = spec.get(list).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in containers.iter().enumerate() {
            let cpath = format!("{prefix}.{list}[{i}]");
            let cname = c.get("name").and_then(Value::as_str).unwrap_or("?");
            for (j, e) in c
                .get("env")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let name = e.get("name").and_then(Value::as_str).unwrap_or("");
                if e.pointer("/valueFrom/secretKeyRef").is_some() {
                    let path = format!("{cpath}.env[{j}].name");
                    s.emit(
                        &rules::SECRET_ENV,
                        rules::SECRET_ENV.severity,
                        &loc,
                        &path,
                        obj.pos(&path),
                        format!(
                            "container {cname} reads a Secret into the environment variable {name}"
                        ),
                        vec![],
                    );
                    continue;
                }
                let Some(value) = e.get("value") else {
                    continue;
                };
                if let Some(verdict) = judge(name, value) {
                    let path = format!("{cpath}.env[{j}].value");
                    s.emit(
                        &rules::ENV_CREDENTIAL,
                        verdict.severity(),
                        &loc,
                        &path,
                        obj.pos(&path),
                        format!(
                            "container {cname}: {}",
                            verdict.describe(&format!("environment variable {name}"))
                        ),
                        vec![],
                    );
                }
            }
            for (j, e) in c
                .get("envFrom")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if let Some(r) = e.get("secretRef") {
                    let path = format!("{cpath}.envFrom[{j}].secretRef");
                    let secret = r.get("name").and_then(Value::as_str).unwrap_or("?");
                    s.emit(
                        &rules::SECRET_ENV_FROM,
                        rules::SECRET_ENV_FROM.severity,
                        &loc,
                        &path,
                        obj.pos(&path),
                        format!("container {cname} imports every key of Secret {secret} as environment variables"),
                        vec![],
                    );
                }
            }
            for (k, m) in c
                .get("volumeMounts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let vname = m.get("name").and_then(Value::as_str).unwrap_or("");
                if secret_volumes.contains(&vname) {
                    let path = format!("{cpath}.volumeMounts[{k}]");
                    s.emit(
                        &rules::SECRET_VOLUME,
                        Severity::Info,
                        &loc,
                        &path,
                        obj.pos(&path),
                        format!("container {cname} mounts the Secret volume {vname}"),
                        vec![],
                    );
                }
            }
        }
    }
    // Other fields (command lines, annotations of templates, …): detectors only, env
    // is owned by the rules above.
    config::scan_object_except(s, obj, &|p| p.ends_with(".env") || p.contains(".env["));
    let automount_path = format!("{prefix}.automountServiceAccountToken");
    s.refs.workloads.push(Workload {
        file: obj.source.file.clone(),
        kind: obj.kind.to_string(),
        namespace: obj.namespace.map(str::to_string),
        name: obj.name.to_string(),
        service_account: spec
            .get("serviceAccountName")
            .or_else(|| spec.get("serviceAccount"))
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string(),
        automount: spec
            .get("automountServiceAccountToken")
            .and_then(Value::as_bool),
        pos: obj.pos(&automount_path),
        automount_path,
        ignore: obj.ignore.clone(),
    });
}
