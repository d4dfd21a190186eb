//! Reconciling one SealedSecret: unseal it, create or update its Secret, report.
//!
//! Bitnami's rules, kept exactly so a cluster can switch controllers in place:
//! - the Secret has the SealedSecret's name and namespace, the template's labels,
//!   annotations, type and `immutable`, and a controller owner reference to the
//!   SealedSecret (unless `sealedsecrets.bitnami.com/skip-set-owner-references: "true"`);
//! - an existing Secret the SealedSecret does not control is left alone ("already exists
//!   and is not managed by SealedSecret") unless it carries
//!   `sealedsecrets.bitnami.com/managed: "true"` (taken over and overwritten) or
//!   `sealedsecrets.bitnami.com/patch: "true"` (data, labels and annotations merged in);
//! - events `Unsealed`, `ErrUnsealFailed`, `ErrUpdateFailed`; status condition `Synced`.
//!
//! Idempotent: when the Secret and status already match, nothing is written and no event
//! is emitted (Bitnami emits `Unsealed` on every pass).
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::ByteString;
use ksec_seal::{SealedSecret, Unsealed, API_VERSION, KIND};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Resource, ResourceExt};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::keyring::KeyRing;
use crate::metrics::{ErrorReason, Metrics};
use crate::status;

/// Annotation on an existing Secret: the controller may take it over and overwrite it.
pub const MANAGED_ANNOTATION: &str = "sealedsecrets.bitnami.com/managed";
/// Annotation on an existing Secret: the controller merges its values into it.
pub const PATCH_ANNOTATION: &str = "sealedsecrets.bitnami.com/patch";
/// Annotation on a SealedSecret: create its Secret without an owner reference.
pub const SKIP_OWNER_ANNOTATION: &str = "sealedsecrets.bitnami.com/skip-set-owner-references";

/// Event reasons, as Bitnami's.
pub const REASON_UNSEALED: &str = "Unsealed";
/// Unsealing failed (no key, wrong scope, malformed).
pub const REASON_UNSEAL_FAILED: &str = "ErrUnsealFailed";
/// Writing the Secret failed or the Secret belongs to someone else.
pub const REASON_UPDATE_FAILED: &str = "ErrUpdateFailed";

/// The `ApiResource` of `bitnami.com/v1alpha1` SealedSecrets.
pub fn sealed_secret_resource() -> ApiResource {
    ApiResource {
        group: "bitnami.com".into(),
        version: "v1alpha1".into(),
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        plural: "sealedsecrets".into(),
    }
}

/// Shared state of the reconciler.
pub struct Context {
    /// API client.
    pub client: kube::Client,
    /// Settings.
    pub config: Config,
    /// Registered keys.
    pub keys: Arc<KeyRing>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Event recorder.
    pub recorder: Recorder,
    /// Fingerprint of the key that opened each SealedSecret last time (namespace/name).
    pub last_key: Mutex<HashMap<String, String>>,
    /// Failed attempts per SealedSecret since its last success.
    pub retries: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

fn error_reason(e: &Error) -> ErrorReason {
    match e {
        Error::Unmanaged { .. } => ErrorReason::Unmanaged,
        e if e.is_unseal_failure() => ErrorReason::Unseal,
        _ => ErrorReason::Update,
    }
}

fn event_reason(e: &Error) -> &'static str {
    if e.is_unseal_failure() {
        REASON_UNSEAL_FAILED
    } else {
        REASON_UPDATE_FAILED
    }
}

fn key_of(obj: &DynamicObject) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// Reconciles one SealedSecret (the `kube::runtime::Controller` callback).
pub async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action> {
    ctx.metrics.unseal_request();
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let outcome = sync_secret(&obj, &ctx).await;
    let (error, wrote) = match &outcome {
        Ok(wrote) => (None, *wrote),
        Err(e) => (Some(e.to_string()), false),
    };
    if let Err(e) = &outcome {
        tracing::warn!(sealedsecret = %key_of(&obj), error = %e, "cannot sync");
        ctx.metrics.unseal_error(error_reason(e), &ns);
        publish(
            &ctx,
            &obj,
            EventType::Warning,
            event_reason(e),
            format!(
                "{}{e}",
                if e.is_unseal_failure() {
                    "Failed to unseal: "
                } else {
                    ""
                }
            ),
        )
        .await;
    }
    let status_changed = if ctx.config.update_status {
        match write_status(&obj, &ctx, error.as_deref()).await {
            Ok(changed) => changed,
            Err(e) => {
                tracing::error!(sealedsecret = %key_of(&obj), error = %e, "cannot update status");
                ctx.metrics.unseal_error(ErrorReason::Status, &ns);
                false
            }
        }
    } else {
        false
    };
    if !ctx.config.metrics_omit_secret_labels {
        ctx.metrics.condition(&ns, &name, Some(error.is_none()));
    }
    match outcome {
        Ok(_) => {
            lock(&ctx.retries).remove(&key_of(&obj));
            if wrote || status_changed {
                publish(
                    &ctx,
                    &obj,
                    EventType::Normal,
                    REASON_UNSEALED,
                    "SealedSecret unsealed successfully".into(),
                )
                .await;
            }
            Ok(Action::await_change())
        }
        Err(e) => Err(e),
    }
}

/// Requeues a failed SealedSecret with exponential backoff (5 ms · 2ⁿ, as client-go's
/// default rate limiter) up to `--max-unseal-retries`, then waits for a change (of the
/// object, its Secret, or the keys).
pub fn error_policy(obj: Arc<DynamicObject>, _err: &Error, ctx: Arc<Context>) -> Action {
    let mut retries = lock(&ctx.retries);
    let n = retries.entry(key_of(&obj)).or_insert(0);
    *n += 1;
    if *n > ctx.config.max_unseal_retries {
        Action::await_change()
    } else {
        Action::requeue(Duration::from_millis(5u64 << (*n).min(20)))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn publish(ctx: &Context, obj: &DynamicObject, type_: EventType, reason: &str, note: String) {
    let reference: ObjectReference = obj.object_ref(&sealed_secret_resource());
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Unseal".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
        tracing::warn!(error = %e, "cannot publish event");
    }
}

/// Opens the SealedSecret with the registered keys (the one that opened it last time
/// first) on a blocking thread: RSA-4096 decryption costs milliseconds per value.
pub fn unseal_with_ring(
    value: &serde_json::Value,
    keys: &KeyRing,
    hint: Option<&str>,
) -> Result<(Unsealed, Option<String>)> {
    let mut value = value.clone();
    // List items and watch events may lack apiVersion/kind.
    value["apiVersion"] = API_VERSION.into();
    value["kind"] = KIND.into();
    let ss = SealedSecret::from_value(&value).map_err(|source| Error::Malformed { source })?;
    let ring = keys.preferred(hint);
    if ring.is_empty() {
        return Err(Error::NoKeys);
    }
    let private: Vec<&ksec_crypto::rsa::RsaPrivateKey> = ring.iter().map(|k| &k.key.key).collect();
    let unsealed = ksec_seal::unseal(&ss, &private).map_err(|source| Error::Unseal {
        tried: ring.len(),
        source,
    })?;
    // Remember the key that opened the most values, for this object and overall.
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for idx in unsealed.opened_by.values() {
        *counts.entry(*idx).or_default() += 1;
    }
    for (idx, n) in &counts {
        if let Some(k) = ring.get(*idx) {
            keys.record_opened(&k.fingerprint, *n as u64);
        }
    }
    let best = counts
        .into_iter()
        .max_by_key(|(_, c)| *c)
        .and_then(|(i, _)| ring.get(i).map(|k| k.fingerprint.clone()));
    Ok((unsealed, best))
}

/// The Secret the SealedSecret asks for.
fn desired_secret(obj: &DynamicObject, unsealed: &Unsealed) -> Secret {
    let s = &unsealed.secret;
    let mut secret = Secret::default();
    secret.metadata.name = Some(obj.name_any());
    secret.metadata.namespace = obj.namespace();
    let labels = s.metadata.labels();
    let annotations = s.metadata.annotations();
    secret.metadata.labels = (!labels.is_empty()).then_some(labels);
    secret.metadata.annotations = (!annotations.is_empty()).then_some(annotations);
    let skip_owner = obj
        .annotations()
        .get(SKIP_OWNER_ANNOTATION)
        .is_some_and(|v| v == "true");
    if !skip_owner {
        secret.metadata.owner_references = Some(vec![OwnerReference {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            name: obj.name_any(),
            uid: obj.uid().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
    }
    secret.type_ = Some(if s.type_.is_empty() {
        "Opaque".into()
    } else {
        s.type_.clone()
    });
    secret.immutable = s.immutable;
    secret.data = Some(
        s.merged_data()
            .iter()
            .map(|(k, v)| (k.clone(), ByteString(v.expose().to_vec())))
            .collect(),
    );
    secret
}

fn controlled_by(secret: &Secret, obj: &DynamicObject) -> bool {
    let uid = obj.uid();
    secret
        .metadata
        .owner_references
        .as_ref()
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.controller == Some(true) && Some(&r.uid) == uid.as_ref())
        })
}

fn annotated(secret: &Secret, key: &str) -> bool {
    secret.annotations().get(key).is_some_and(|v| v == "true")
}

/// Unseals and writes the Secret. `Ok(true)` when something was written.
async fn sync_secret(obj: &DynamicObject, ctx: &Context) -> Result<bool> {
    let key = key_of(obj);
    let value = serde_json::to_value(obj).map_err(|source| Error::Encode { source })?;
    let hint = lock(&ctx.last_key).get(&key).cloned();
    let keys = ctx.keys.clone();
    let (unsealed, best) =
        tokio::task::spawn_blocking(move || unseal_with_ring(&value, &keys, hint.as_deref()))
            .await
            .map_err(Error::UnsealStopped)??;
    if let Some(fp) = best {
        lock(&ctx.last_key).insert(key, fp);
    }
    let desired = desired_secret(obj, &unsealed);
    drop(unsealed);
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = api.get_opt(&name).await.map_err(|source| Error::Update {
        action: "read",
        secret: format!("{ns}/{name}"),
        source,
    })?;
    let Some(existing) = existing else {
        return match api.create(&PostParams::default(), &desired).await {
            Ok(_) => Ok(true),
            Err(source) => Err(Error::Update {
                action: "create",
                secret: format!("{ns}/{name}"),
                source,
            }),
        };
    };
    let managed = annotated(&existing, MANAGED_ANNOTATION);
    let patch = annotated(&existing, PATCH_ANNOTATION);
    if !controlled_by(&existing, obj) && !managed && !patch {
        return Err(Error::Unmanaged { name });
    }
    let mut updated = existing.clone();
    if patch {
        let data = updated.data.get_or_insert_with(BTreeMap::new);
        for (k, v) in desired.data.clone().unwrap_or_default() {
            data.insert(k, v);
        }
        let a = updated
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new);
        a.extend(desired.metadata.annotations.clone().unwrap_or_default());
        let l = updated.metadata.labels.get_or_insert_with(BTreeMap::new);
        l.extend(desired.metadata.labels.clone().unwrap_or_default());
        if managed {
            updated.metadata.owner_references = desired.metadata.owner_references.clone();
        }
    } else {
        updated.data = desired.data.clone();
        updated.metadata.annotations = desired.metadata.annotations.clone();
        updated.metadata.labels = desired.metadata.labels.clone();
        updated.metadata.owner_references = desired.metadata.owner_references.clone();
    }
    updated.type_ = desired.type_.clone();
    if desired.immutable.is_some() {
        updated.immutable = desired.immutable;
    }
    if same_secret(&updated, &existing) {
        return Ok(false);
    }
    match api.replace(&name, &PostParams::default(), &updated).await {
        Ok(_) => Ok(true),
        Err(source @ kube::Error::Api(_))
            if is_422(&source) && existing.immutable == Some(true) =>
        {
            Err(Error::Immutable {
                namespace: ns,
                name,
                source,
            })
        }
        Err(source) => Err(Error::Update {
            action: "update",
            secret: format!("{ns}/{name}"),
            source,
        }),
    }
}

fn is_422(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 422)
}

fn same_secret(a: &Secret, b: &Secret) -> bool {
    let empty = |m: &Option<BTreeMap<String, String>>| m.clone().unwrap_or_default();
    a.data.clone().unwrap_or_default() == b.data.clone().unwrap_or_default()
        && empty(&a.metadata.labels) == empty(&b.metadata.labels)
        && empty(&a.metadata.annotations) == empty(&b.metadata.annotations)
        && a.metadata.owner_references.clone().unwrap_or_default()
            == b.metadata.owner_references.clone().unwrap_or_default()
        && a.type_ == b.type_
        && a.immutable == b.immutable
}

/// Writes the status if it changed (merge patch of `/status`). `Ok(true)` when written.
async fn write_status(
    obj: &DynamicObject,
    ctx: &Context,
    error: Option<&str>,
) -> Result<bool, kube::Error> {
    let now = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let Some(next) =
        status::next_status(obj.data.get("status"), obj.metadata.generation, error, &now)
    else {
        return Ok(false);
    };
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &obj.namespace().unwrap_or_default(),
        &sealed_secret_resource(),
    );
    api.patch_status(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "status": next })),
    )
    .await?;
    Ok(true)
}
