//! `Table` responses: what `kubectl get` asks for (`Accept: …;as=Table;…`) so it can print
//! columns. The fake gives every resource the columns the API server gives a custom
//! resource without printer columns: NAME and AGE.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::http::partial;

/// The table of a list response.
pub(super) fn of_list(list: &Value, query: &HashMap<String, String>) -> Value {
    let items = list["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    table(items, &list["metadata"]["resourceVersion"], query)
}

/// The table of one object.
pub(super) fn of_object(obj: &Value, query: &HashMap<String, String>) -> Value {
    table(
        std::slice::from_ref(obj),
        &obj["metadata"]["resourceVersion"],
        query,
    )
}

fn table(items: &[Value], resource_version: &Value, query: &HashMap<String, String>) -> Value {
    let include = query
        .get("includeObject")
        .map_or("Metadata", String::as_str);
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut row =
                json!({"cells": [o["metadata"]["name"], age(&o["metadata"]["creationTimestamp"])]});
            match include {
                "None" => {}
                "Object" => row["object"] = o.clone(),
                _ => row["object"] = partial(o),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "priority": 0,
             "description": "Name must be unique within a namespace."},
            {"name": "Age", "type": "string", "format": "", "priority": 0,
             "description": "Time since the object was created."},
        ],
        "rows": rows,
    })
}

/// The age of an object as kubectl prints it (`42s`, `5m`, `3h`, `2d`).
fn age(created: &Value) -> String {
    let Some(created) = created
        .as_str()
        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
    else {
        return "<unknown>".into();
    };
    let secs = (k8s_openapi::jiff::Timestamp::now().as_second() - created.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}
