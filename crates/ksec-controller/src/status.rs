//! The SealedSecret `status`, as Bitnami's controller writes it: one `Synced` condition
//! (`True`, or `False` with the error message) and `observedGeneration`.
//!
//! One deliberate difference: Bitnami only rewrites the status when the condition flips
//! or the generation changes, so a SealedSecret that fails for a new reason keeps the old
//! message. ksec also rewrites it when the message changes, so the status GitOps tools
//! read always says why.
use serde_json::{json, Value};

/// The status a SealedSecret should have after a reconciliation, or `None` when the
/// stored one already says the same (so nothing is written: a second pass is a no-op).
///
/// `error` is the failure message (`None`: synced). `now` is an RFC 3339 time.
pub(crate) fn next_status(
    current: Option<&Value>,
    generation: Option<i64>,
    error: Option<&str>,
    now: &str,
) -> Option<Value> {
    let current = current.cloned().unwrap_or_else(|| json!({}));
    let conditions: Vec<Value> = current
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let old = conditions.iter().find(|c| c["type"] == "Synced");
    let want_status = if error.is_some() { "False" } else { "True" };
    let want_message = error.unwrap_or("");
    let old_status = old.and_then(|c| c["status"].as_str());
    let old_message = old.and_then(|c| c["message"].as_str()).unwrap_or("");
    let old_generation = current.get("observedGeneration").and_then(Value::as_i64);
    let flipped = old_status != Some(want_status);
    if !flipped && old_message == want_message && old_generation == generation {
        return None;
    }
    let mut cond = old.cloned().unwrap_or_else(|| json!({"type": "Synced"}));
    if flipped {
        // Bitnami's bookkeeping: the transition time takes the previous update time.
        let prev_update = cond.get("lastUpdateTime").cloned().unwrap_or(Value::Null);
        cond["lastTransitionTime"] = if prev_update.is_null() {
            json!(now)
        } else {
            prev_update
        };
        cond["lastUpdateTime"] = json!(now);
        cond["status"] = json!(want_status);
    }
    match error {
        Some(m) => cond["message"] = json!(m),
        None => {
            if let Some(o) = cond.as_object_mut() {
                o.remove("message");
            }
        }
    }
    let mut out_conditions: Vec<Value> = conditions
        .into_iter()
        .filter(|c| c["type"] != "Synced")
        .collect();
    out_conditions.insert(0, cond);
    let mut status = current;
    status["conditions"] = Value::Array(out_conditions);
    match generation {
        Some(g) => status["observedGeneration"] = json!(g),
        None => {
            if let Some(o) = status.as_object_mut() {
                o.remove("observedGeneration");
            }
        }
    }
    Some(status)
}

/// Whether a stored status says Synced=True (the tests read statuses back with it).
#[cfg(test)]
fn is_synced(status: Option<&Value>) -> Option<bool> {
    let conds = status?.get("conditions")?.as_array()?;
    let c = conds.iter().find(|c| c["type"] == "Synced")?;
    match c["status"].as_str()? {
        "True" => Some(true),
        "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_success_then_no_op_then_failure_then_recovery() {
        let s1 = next_status(None, Some(1), None, "t1").unwrap();
        assert_eq!(s1["conditions"][0]["status"], "True");
        assert_eq!(s1["observedGeneration"], 1);
        assert!(s1["conditions"][0].get("message").is_none());
        assert_eq!(next_status(Some(&s1), Some(1), None, "t2"), None);

        let s2 = next_status(Some(&s1), Some(2), Some("no key could decrypt"), "t3").unwrap();
        assert_eq!(s2["conditions"][0]["status"], "False");
        assert_eq!(s2["conditions"][0]["message"], "no key could decrypt");
        assert_eq!(s2["conditions"][0]["lastTransitionTime"], "t1");
        assert_eq!(s2["conditions"][0]["lastUpdateTime"], "t3");
        assert_eq!(is_synced(Some(&s2)), Some(false));

        // A new reason is written even though the condition did not flip.
        let s3 = next_status(Some(&s2), Some(2), Some("other"), "t4").unwrap();
        assert_eq!(s3["conditions"][0]["message"], "other");

        let s4 = next_status(Some(&s3), Some(3), None, "t5").unwrap();
        assert_eq!(s4["conditions"][0]["status"], "True");
        assert!(s4["conditions"][0].get("message").is_none());
        assert_eq!(s4["observedGeneration"], 3);
        assert_eq!(is_synced(Some(&s4)), Some(true));
    }
}
