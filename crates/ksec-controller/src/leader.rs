//! Leader election with a `coordination.k8s.io/v1` Lease, so two replicas never both write.
//!
//! The protocol is client-go's: the holder renews `renewTime` every `renew` interval; a
//! replica takes the Lease over only when it is unheld, or when its record has not changed
//! for `leaseDurationSeconds` *by the replica's own clock* (so clock skew between nodes does
//! not matter). Every write carries the resourceVersion it read, so of two replicas racing
//! for the same Lease exactly one wins (the other gets 409 Conflict). A leader that cannot
//! renew stops its work before its Lease can expire for the others.
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};
use tokio::time::Instant;

/// One replica's view of the Lease.
pub(crate) struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    /// The last record seen (holder and renew time) and when it was first seen.
    observed: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("name", &self.name)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

impl LeaderElector {
    /// An elector for Lease `name` in `namespace`.
    pub(crate) fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            duration,
            observed: Mutex::new(None),
        }
    }

    /// Acquires or renews the Lease once. `Ok(true)`: this replica leads until at least
    /// the lease duration from now.
    pub(crate) async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let secs = self.duration.as_secs().max(1) as i32;
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: kube::api::ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let record = format!(
            "{holder}@{}",
            spec.renew_time
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default()
        );
        // The holder's own lease duration decides, as in client-go.
        let holder_duration = spec
            .lease_duration_seconds
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(s as u64))
            .unwrap_or(self.duration);
        let expired = {
            let mut obs = self.observed.lock().unwrap_or_else(|p| p.into_inner());
            match obs.as_ref() {
                Some((r, since)) if *r == record => since.elapsed() >= holder_duration,
                _ => {
                    *obs = Some((record, Instant::now()));
                    false
                }
            }
        };
        if holder == self.identity {
            spec.renew_time = Some(now());
            spec.lease_duration_seconds = Some(secs);
        } else if holder.is_empty() || expired {
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(now());
            spec.renew_time = Some(now());
            spec.lease_duration_seconds = Some(secs);
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        } else {
            return Ok(false);
        }
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up (on shutdown) so another replica takes over at once.
    pub(crate) async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await {
            let spec = lease.spec.get_or_insert_with(Default::default);
            if spec.holder_identity.as_deref() == Some(self.identity.as_str()) {
                spec.holder_identity = None;
                let _ = self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await;
            }
        }
    }

    /// Waits until this replica leads, retrying every `retry`.
    pub(crate) async fn acquire(&self, retry: Duration) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: cannot read or write the Lease")
                }
            }
            tokio::time::sleep(retry).await;
        }
    }

    /// Renews every `renew` and returns when leadership is lost: another replica holds the
    /// Lease, or renewals failed for two thirds of the lease duration (client-go's renew
    /// deadline), which is before the others may take over.
    pub(crate) async fn hold(&self, renew: Duration) {
        let mut last_ok = Instant::now();
        let deadline = self.duration * 2 / 3;
        loop {
            tokio::time::sleep(renew).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_ok = Instant::now(),
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: cannot renew the Lease");
                    if last_ok.elapsed() >= deadline {
                        return;
                    }
                }
            }
        }
    }
}
