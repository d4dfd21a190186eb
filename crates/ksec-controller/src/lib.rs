//! The in-cluster SealedSecret controller of ksec: a drop-in for Bitnami's
//! sealed-secrets controller.
//!
//! It watches `bitnami.com/v1alpha1` SealedSecrets, opens them with the controller's
//! private keys and keeps the Secret each one describes. A cluster can switch from the
//! Bitnami controller to this one in place: same CRD, same key Secrets (read in Bitnami's
//! `kubernetes.io/tls` format, labelled `sealedsecrets.bitnami.com/sealed-secrets-key`),
//! same annotations, same HTTP endpoints ([`http`]) and metric names ([`metrics`]), same
//! flags and `SEALED_SECRETS_*` variables (in the `ksec controller` command).
//!
//! Where it does better:
//! - status GitOps tools can trust: the `Synced` message always says the
//!   current reason, and a second pass writes nothing (no event spam either);
//! - two or more replicas with leader election on a Lease: only the leader
//!   writes, every replica serves the certificate and `/v1/verify`;
//! - a cold start over thousands of SealedSecrets remembers which key opened each one, so
//!   clusters with many keys do not try every key on every value ([`keyring`]).
//!
//! Modules: [`config`] (settings, Bitnami defaults, and how Bitnami's controller finds its
//! namespace, identity, listen addresses and watched namespaces: [`config::own_namespace`],
//! [`Namespaces::select`]), [`keyring`] (key Secrets, generation,
//! renewal), [`reconcile`] (one SealedSecret), [`http`], [`metrics`]; [`run`] wires them,
//! with the status bookkeeping and leader election inside. Errors: [`Error`].
//!
//! ```no_run
//! // What `ksec controller` does: settings (Bitnami's defaults here), a client, run.
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! ksec_controller::install_crypto_provider();
//! let client = kube::Client::try_default().await?;
//! let config = ksec_controller::Config {
//!     namespace: "kube-system".into(),
//!     ..Default::default()
//! };
//! ksec_controller::run(client, config, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(())
//! # }
//! ```
//!
//! ```
//! // The settings check what Bitnami's flags would refuse, naming the setting.
//! let config = ksec_controller::Config { key_size: 100, ..Default::default() };
//! let e = config.validate().unwrap_err();
//! assert!(matches!(
//!     e,
//!     ksec_controller::Error::Setting { setting: ksec_controller::Setting::KeySize, .. }
//! ));
//! assert_eq!(ksec_controller::config::parse_go_duration("720h")?.as_secs(), 720 * 3600);
//! # Ok::<(), ksec_controller::Error>(())
//! ```
//!
//! Tests: unit tests here; integration tests (`tests/ksec-controller.rs`) run the whole
//! controller against an in-memory Kubernetes API behind `kube::Client` (no
//! kube-apiserver is available on the build machines), with SealedSecrets sealed by the
//! real `kubesealpy` and key Secrets in Bitnami's format. **None of this has been run
//! against a live cluster yet.**
#![forbid(unsafe_code)]

pub mod config;
mod error;
pub mod http;
pub mod keyring;
mod leader;
pub mod metrics;
pub mod reconcile;
mod status;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{watcher, Controller, WatchStreamExt};
use kube::ResourceExt;

pub use config::{Config, KeyOrder, Namespaces};
pub use error::{Error, Result, Setting};
pub use keyring::KeyRing;
pub use metrics::Metrics;

/// A running controller's shared parts, for callers that want to look inside (tests,
/// the benchmark).
#[derive(Debug, Clone)]
pub struct Handles {
    /// Registered keys.
    pub keys: Arc<KeyRing>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// True while this replica leads.
    pub leading: Arc<std::sync::atomic::AtomicBool>,
}

impl Handles {
    /// New, empty handles for `config`.
    pub fn new(config: &Config) -> Self {
        Self {
            keys: Arc::new(KeyRing::new()),
            metrics: Arc::new(Metrics::new(&config.revision)),
            leading: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }
}

/// Installs aws-lc-rs as rustls' process-wide crypto provider (the one provider in the
/// build; rustls refuses to guess). Call once before building a `kube::Client`.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Runs the controller until `shutdown` resolves: HTTP servers, key watch, leader
/// election, and (while leading) key generation/renewal and the reconcilers.
pub async fn run(
    client: kube::Client,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let handles = Handles::new(&config);
    let api = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .map_err(|source| Error::Listen {
            addr: config.listen_addr,
            source,
        })?;
    let metrics_listener = tokio::net::TcpListener::bind(config.listen_metrics_addr)
        .await
        .map_err(|source| Error::Listen {
            addr: config.listen_metrics_addr,
            source,
        })?;
    run_with(
        client,
        config,
        handles,
        Some((api, metrics_listener)),
        shutdown,
    )
    .await
}

/// [`run`] with caller-made handles and (optionally) listeners already bound.
pub async fn run_with(
    client: kube::Client,
    config: Config,
    handles: Handles,
    listeners: Option<(tokio::net::TcpListener, tokio::net::TcpListener)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    config.validate()?;
    let shutdown = shutdown.shared();
    let Handles {
        keys,
        metrics,
        leading,
    } = handles;

    let key_events = Recorder::new(
        client.clone(),
        Reporter {
            controller: "sealed-secrets".into(),
            instance: Some(config.identity.clone()),
        },
    );
    let mut reported = std::collections::HashSet::new();
    let bad = keyring::load(&client, &config, &keys).await?;
    report_bad_keys(&key_events, &config, &bad, &mut reported).await;
    tracing::info!(keys = keys.len(), "registered sealing keys");

    if let Some((api, metrics_listener)) = listeners {
        let state = Arc::new(http::HttpState {
            keys: keys.clone(),
            metrics: metrics.clone(),
            limiter: http::RateLimiter::new(config.rate_limit, config.rate_limit_burst),
        });
        let sd = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(api, http::router(state))
                .with_graceful_shutdown(sd)
                .await;
        });
        let sd = shutdown.clone();
        let m = metrics.clone();
        tokio::spawn(async move {
            let _ = axum::serve(metrics_listener, http::metrics_router(m))
                .with_graceful_shutdown(sd)
                .await;
        });
    }

    // Every replica follows the key Secrets (so each serves the newest certificate);
    // a change re-triggers every SealedSecret (a new key may open ones that failed).
    let (keys_changed, keys_changed_rx) = tokio::sync::watch::channel(0u64);
    let keys_changed = Arc::new(keys_changed);
    {
        let client = client.clone();
        let config = config.clone();
        let keys = keys.clone();
        let keys_changed = keys_changed.clone();
        let sd = shutdown.clone();
        tokio::spawn(async move {
            // Metadata only: key material is read by `keyring::load`, never cached here.
            let api: Api<PartialObjectMeta<Secret>> =
                Api::namespaced(client.clone(), &config.namespace);
            let wc = watcher::Config::default()
                .labels(&format!("{}=active", ksec_seal::keys::KEY_LABEL));
            let mut events = std::pin::pin!(watcher(api, wc).default_backoff());
            let mut sd = std::pin::pin!(sd);
            loop {
                tokio::select! {
                    _ = &mut sd => return,
                    ev = events.next() => {
                        if ev.is_none() { return; }
                        let before = keys.fingerprints();
                        match keyring::load(&client, &config, &keys).await {
                            Ok(bad) => report_bad_keys(&key_events, &config, &bad, &mut reported).await,
                            Err(e) => tracing::warn!(error = %e, "cannot reload sealing keys"),
                        }
                        if keys.fingerprints() != before {
                            tracing::info!(keys = keys.len(), "sealing keys changed");
                            keys_changed.send_modify(|n| *n += 1);
                        }
                    }
                }
            }
        });
    }

    let elector = leader::LeaderElector::new(
        client.clone(),
        &config.namespace,
        &config.lease_name,
        &config.identity,
        config.lease_duration,
    );
    let mut sd = std::pin::pin!(shutdown.clone());
    loop {
        tokio::select! {
            _ = &mut sd => return Ok(()),
            _ = elector.acquire(config.lease_renew) => {}
        }
        tracing::info!(identity = %config.identity, "leading");
        leading.store(true, std::sync::atomic::Ordering::SeqCst);
        let work = lead(
            client.clone(),
            config.clone(),
            keys.clone(),
            metrics.clone(),
            keys_changed.clone(),
            keys_changed_rx.clone(),
        );
        let result = tokio::select! {
            _ = &mut sd => {
                leading.store(false, std::sync::atomic::Ordering::SeqCst);
                elector.release().await;
                return Ok(());
            }
            _ = elector.hold(config.lease_renew) => {
                tracing::warn!("lost the leader Lease; stopping writes");
                Ok(())
            }
            r = work => r,
        };
        leading.store(false, std::sync::atomic::Ordering::SeqCst);
        if let Err(e) = result {
            // Give the Lease up so another replica can try, then retry ourselves.
            elector.release().await;
            tracing::error!(error = %e, "controller failed; retrying");
            tokio::time::sleep(config.lease_renew).await;
        }
    }
}

/// What the leader does: make sure there is a current key, renew keys on schedule, and
/// run the reconcilers. Returns only on error.
async fn lead(
    client: kube::Client,
    config: Config,
    keys: Arc<KeyRing>,
    metrics: Arc<Metrics>,
    keys_changed: Arc<tokio::sync::watch::Sender<u64>>,
    keys_changed_rx: tokio::sync::watch::Receiver<u64>,
) -> Result<()> {
    // Re-read the keys: the previous leader may have just written one.
    keyring::load(&client, &config, &keys).await?;
    // Bitnami's start-up rule: a key when there is none, or the newest predates the
    // cutoff; the renewal loop below handles a newest key older than the renew period.
    let before_cutoff = keys.newest().is_some_and(|k| {
        config
            .key_cutoff_time
            .is_some_and(|cut| k.ordering_time < cut)
    });
    if keys.is_empty() || before_cutoff {
        renew_key(&client, &config, &keys, &keys_changed).await?;
    }
    let renewal = {
        let (client, config, keys, keys_changed) = (
            client.clone(),
            config.clone(),
            keys.clone(),
            keys_changed.clone(),
        );
        async move {
            loop {
                let Some(wait) = keyring::until_renewal(&keys, &config, SystemTime::now()) else {
                    return futures::future::pending::<Result<()>>().await;
                };
                tokio::time::sleep(wait).await;
                if keyring::needs_new_key(&keys, &config, SystemTime::now()) {
                    if let Err(e) = renew_key(&client, &config, &keys, &keys_changed).await {
                        tracing::error!(error = %e, "key renewal failed; retrying in a minute");
                        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                    }
                }
            }
        }
    };
    let ctx = Arc::new(reconcile::Context {
        client: client.clone(),
        config: config.clone(),
        keys: keys.clone(),
        metrics,
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "sealed-secrets".into(),
                instance: Some(config.identity.clone()),
            },
        ),
        last_key: Mutex::new(Default::default()),
        retries: Mutex::new(Default::default()),
    });
    let scopes: Vec<Option<String>> = match &config.namespaces {
        Namespaces::All => vec![None],
        Namespaces::Only(list) => list.iter().cloned().map(Some).collect(),
    };
    let ar = reconcile::sealed_secret_resource();
    let mut controllers = Vec::new();
    for ns in scopes {
        let (ss_api, secret_api): (Api<DynamicObject>, Api<PartialObjectMeta<Secret>>) = match &ns {
            None => (Api::all_with(client.clone(), &ar), Api::all(client.clone())),
            Some(n) => (
                Api::namespaced_with(client.clone(), n, &ar),
                Api::namespaced(client.clone(), n),
            ),
        };
        let mut wc = watcher::Config::default();
        if !config.label_selector.is_empty() {
            wc = wc.labels(&config.label_selector);
        }
        // Like Bitnami, reconcile on spec changes only (metadata.generation), not on the
        // controller's own status writes: each reconciliation costs RSA decryptions.
        let writer = kube::runtime::reflector::store::Writer::new(ar.clone());
        let reader = writer.as_reader();
        let metrics = ctx.metrics.clone();
        let sealed_secrets = watcher(ss_api, wc.clone())
            .default_backoff()
            .reflect(writer)
            .inspect(move |ev| {
                if let Ok(watcher::Event::Delete(o)) = ev {
                    metrics.forget_condition(&o.namespace().unwrap_or_default(), &o.name_any());
                }
            })
            .applied_objects()
            .predicate_filter(kube::runtime::predicates::generation, Default::default());
        // Unsealing is CPU-bound RSA work: more reconciliations in flight than cores only
        // adds memory, and a small window lets the key preference learn early.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut c = Controller::for_stream_with(sealed_secrets, reader, ar.clone()).with_config(
            kube::runtime::controller::Config::default()
                .concurrency((2 * cores).clamp(2, 64) as u16),
        );
        if !config.skip_recreate {
            // Metadata only: the controller never holds other Secrets' values in memory.
            // Deletions only, as Bitnami's Secret informer: the controller's own creates
            // and updates must not trigger a second unseal (RSA work) of the owner.
            let deleted = watcher(secret_api, wc)
                .default_backoff()
                .filter_map(|ev| async move {
                    match ev {
                        Ok(watcher::Event::Delete(s)) => Some(Ok(s)),
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    }
                });
            c = c.owns_stream_with(deleted, ());
        }
        let trigger = futures::stream::unfold(keys_changed_rx.clone(), |mut rx| async move {
            rx.changed().await.ok()?;
            Some(((), rx))
        });
        let stream = c
            .reconcile_all_on(trigger)
            .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
            .for_each(|r| async move {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "reconcile");
                }
            });
        controllers.push(stream.boxed());
    }
    tokio::select! {
        _ = futures::future::join_all(controllers) => Ok(()),
        r = renewal => r,
    }
}

/// A Warning event `ErrKeyUnusable` on each key Secret that cannot be read (once per
/// problem), so `kubectl describe secret` says why the key is ignored.
async fn report_bad_keys(
    recorder: &Recorder,
    config: &Config,
    bad: &[keyring::BadKey],
    reported: &mut std::collections::HashSet<(String, String)>,
) {
    for b in bad {
        if !reported.insert((b.name.clone(), b.problem.clone())) {
            continue;
        }
        let reference = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Secret".into()),
            name: Some(b.name.clone()),
            namespace: Some(config.namespace.clone()),
            ..Default::default()
        };
        let ev = kube::runtime::events::Event {
            type_: kube::runtime::events::EventType::Warning,
            reason: "ErrKeyUnusable".into(),
            note: Some(format!("sealing key ignored: {}", b.problem)),
            action: "LoadKey".into(),
            secondary: None,
        };
        if let Err(e) = recorder.publish(&ev, &reference).await {
            tracing::warn!(error = %e, "cannot publish event");
        }
    }
}

async fn renew_key(
    client: &kube::Client,
    config: &Config,
    keys: &KeyRing,
    keys_changed: &tokio::sync::watch::Sender<u64>,
) -> Result<()> {
    keyring::generate_and_store(client, config).await?;
    keyring::load(client, config, keys).await?;
    keys_changed.send_modify(|n| *n += 1);
    Ok(())
}
