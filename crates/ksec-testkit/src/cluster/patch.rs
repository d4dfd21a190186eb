//! Patches as the API server applies them: JSON merge patch (RFC 7386), strategic merge
//! patch (what `kubectl apply` and `kubectl patch` send for built-in kinds) and JSON patch
//! (RFC 6902).
//!
//! Strategic merge knows the merge keys of the list fields people patch (containers, env,
//! ports, volumes, volume mounts, conditions, …) from a table instead of the Go types'
//! struct tags; every other list is replaced, as the API server does for lists without a
//! patch strategy. Its directives `$patch`, `$retainKeys`, `$deleteFromPrimitiveList/…`
//! are honoured; `$setElementOrder/…` is read and ignored (the fake keeps list order).

use serde_json::{json, Map, Value};

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Some(t) = target.as_object_mut() {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The merge key of a list field under strategic merge, chosen by the field's name and,
/// for `ports`, by what its elements carry (container ports vs service ports).
fn merge_key(field: &str, elements: &[Value]) -> Option<&'static str> {
    let has = |k: &str| elements.iter().all(|e| e.get(k).is_some());
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ports" if has("containerPort") => "containerPort",
        "ports" if has("port") => "port",
        "hostAliases" => "ip",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Lists of scalars that strategic merge unites instead of replacing.
const SET_LISTS: &[&str] = &["finalizers"];

/// Strategic merge patch of `target` by `patch`.
pub(super) fn strategic_merge(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = Value::Object(without_directives(p));
        return;
    }
    if !target.is_object() {
        *target = json!({});
    }
    let Some(t) = target.as_object_mut() else {
        return;
    };
    let mut retain: Option<Vec<String>> = None;
    for (k, v) in p {
        if k == "$retainKeys" {
            retain = v.as_array().map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            });
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(list), Some(gone)) =
                (t.get_mut(field).and_then(Value::as_array_mut), v.as_array())
            {
                list.retain(|x| !gone.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue; // $setElementOrder/…, $patch on a map
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(_) => strategic_merge(t.entry(k.clone()).or_insert(Value::Null), v),
            Value::Array(items) => {
                let merged = merge_list(k, t.get(k), items);
                t.insert(k.clone(), merged);
            }
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(keep) = retain {
        t.retain(|k, _| keep.contains(k));
    }
}

fn without_directives(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn merge_list(field: &str, old: Option<&Value>, items: &[Value]) -> Value {
    let old: Vec<Value> = old.and_then(Value::as_array).cloned().unwrap_or_default();
    if SET_LISTS.contains(&field) {
        let mut out = old;
        for v in items {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        return Value::Array(out);
    }
    let Some(key) = merge_key(field, items) else {
        return Value::Array(items.to_vec());
    };
    let mut out = old;
    for item in items {
        let id = &item[key];
        let at = out.iter().position(|o| &o[key] == id);
        match (item.get("$patch").and_then(Value::as_str), at) {
            (Some("delete"), Some(i)) => {
                out.remove(i);
            }
            (Some("delete"), None) => {}
            (Some("replace"), Some(i)) => {
                out[i] =
                    Value::Object(item.as_object().map(without_directives).unwrap_or_default());
            }
            (_, Some(i)) => strategic_merge(&mut out[i], item),
            (_, None) => {
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, item);
                out.push(fresh);
            }
        }
    }
    Value::Array(out)
}

/// RFC 6902 JSON patch. Errors say which operation failed and why.
pub(super) fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch is an array of operations")?;
    for (i, op) in ops.iter().enumerate() {
        let fail = |why: String| format!("operation {i}: {why}");
        let name = op["op"].as_str().ok_or_else(|| fail("no \"op\"".into()))?;
        let path = op["path"]
            .as_str()
            .ok_or_else(|| fail("no \"path\"".into()))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| fail("no \"value\"".into()))
        };
        let from = || {
            op["from"]
                .as_str()
                .ok_or_else(|| fail("no \"from\"".into()))
        };
        match name {
            "add" => add(target, path, value()?).map_err(fail)?,
            "remove" => {
                remove(target, path).map_err(fail)?;
            }
            "replace" => {
                remove(target, path).map_err(fail)?;
                add(target, path, value()?).map_err(fail)?;
            }
            "move" => {
                let v = remove(target, from()?).map_err(fail)?;
                add(target, path, v).map_err(fail)?;
            }
            "copy" => {
                let v = target
                    .pointer(from()?)
                    .cloned()
                    .ok_or_else(|| fail(format!("{} does not exist", from().unwrap_or(""))))?;
                add(target, path, v).map_err(fail)?;
            }
            "test" => {
                if target.pointer(path) != Some(&value()?) {
                    return Err(fail(format!("test of {path} failed")));
                }
            }
            other => return Err(fail(format!("unknown op {other:?}"))),
        }
    }
    Ok(())
}

/// Splits an RFC 6901 pointer into its parent pointer and its last, unescaped token.
fn split_pointer(path: &str) -> Result<(&str, String), String> {
    let i = path
        .rfind('/')
        .ok_or_else(|| format!("{path:?} is not a JSON pointer"))?;
    Ok((
        &path[..i],
        path[i + 1..].replace("~1", "/").replace("~0", "~"),
    ))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(last, value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= a.len())
                    .ok_or_else(|| format!("{path}: index out of range"))?
            };
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!("{parent:?} does not exist")),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    let gone = || format!("{path} does not exist");
    match target.pointer_mut(parent) {
        Some(Value::Object(m)) => m.remove(&last).ok_or_else(gone),
        Some(Value::Array(a)) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => Ok(a.remove(i)),
            _ => Err(gone()),
        },
        _ => Err(gone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategic_merge_merges_containers_by_name_and_replaces_other_lists() {
        let mut d = json!({"spec": {"template": {"spec": {
            "containers": [
                {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar", "image": "proxy:1"}
            ],
            "tolerations": [{"key": "x"}]
        }}}});
        strategic_merge(
            &mut d,
            &json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                "containers": [{"name": "app", "image": "app:2",
                                "env": [{"name": "B", "value": "2"}]}],
                "tolerations": [{"key": "y"}]
            }}}}),
        );
        let spec = &d["spec"]["template"]["spec"];
        assert_eq!(spec["containers"][0]["image"], "app:2");
        assert_eq!(spec["containers"][0]["env"].as_array().unwrap().len(), 2);
        assert_eq!(spec["containers"][1]["image"], "proxy:1");
        assert_eq!(spec["tolerations"], json!([{"key": "y"}]));

        strategic_merge(
            &mut d,
            &json!({"spec": {"template": {"spec": {
                "containers": [{"name": "sidecar", "$patch": "delete"}]
            }}}}),
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn strategic_merge_directives() {
        let mut d = json!({"metadata": {"finalizers": ["a", "b"]}, "data": {"x": "1", "y": "2"}});
        strategic_merge(
            &mut d,
            &json!({"metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]},
                    "data": {"y": null}}),
        );
        assert_eq!(d["metadata"]["finalizers"], json!(["b", "c"]));
        assert_eq!(d["data"], json!({"x": "1"}));
        strategic_merge(&mut d, &json!({"data": {"$patch": "replace", "z": "3"}}));
        assert_eq!(d["data"], json!({"z": "3"}));
    }

    #[test]
    fn json_patch_operations() {
        let mut d = json!({"metadata": {"labels": {"a/b": "1"}}, "items": [1, 2]});
        json_patch(
            &mut d,
            &json!([
                {"op": "test", "path": "/metadata/labels/a~1b", "value": "1"},
                {"op": "add", "path": "/items/-", "value": 3},
                {"op": "replace", "path": "/items/0", "value": 0},
                {"op": "move", "from": "/metadata/labels/a~1b", "path": "/metadata/labels/c"},
                {"op": "copy", "from": "/items", "path": "/copy"},
                {"op": "remove", "path": "/items/1"}
            ]),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"metadata": {"labels": {"c": "1"}}, "items": [0, 3], "copy": [0, 2, 3]})
        );
        let err = json_patch(&mut d, &json!([{"op": "remove", "path": "/nothing"}])).unwrap_err();
        assert!(err.contains("/nothing does not exist"), "{err}");
        let err = json_patch(
            &mut d,
            &json!([{"op": "test", "path": "/copy", "value": 1}]),
        )
        .unwrap_err();
        assert!(err.contains("test of /copy failed"), "{err}");
    }
}
