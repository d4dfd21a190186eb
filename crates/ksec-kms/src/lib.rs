//! A kube-apiserver KMS plugin: the KMS v2 gRPC API (`v2.KeyManagementService`:
//! Status, Encrypt, Decrypt) and KMS v1beta1 (`v1beta1.KeyManagementService`) on one
//! unix socket, wrapping what the apiserver sends with a [`ksec_keys::KeyBackend`]
//! (local key file, PKCS#11 HSM, Vault/OpenBao Transit, AWS KMS).
//!
//! Compatibility: the `.proto` files are the official ones, vendored unchanged under
//! `proto/` and compiled at build time by `protox` (no system `protoc`); the
//! messages are prost's, the client side tonic's. The server side is a small gRPC
//! layer on `h2` (`grpc`, `server`), tested against grpc-go (kube-apiserver's
//! gRPC library) and grpcio (Python, C core). What
//! kube-apiserver enforces on a v2 plugin holds here: Status answers `version: v2`,
//! `healthz: ok` only when the backend really wraps and unwraps, and a non-empty
//! `key_id` under 1 KiB that changes when the key-encryption key changes; ciphertexts
//! stay under 1 KiB; Decrypt works for data wrapped by older keys (the backends'
//! ciphertexts say which key wrapped them).
//!
//! Health checks are cached so the apiserver's polling does not hammer the KMS; a
//! failing backend turns Status unhealthy and calls fail with `UNAVAILABLE` within
//! the per-call budget, and the plugin recovers by itself.
//!
//! The crate runs the whole plugin process, not only its protocol: [`Daemon`]
//! resolves a [`ConfigSource`] (a file read again on every reload, with
//! [`Overrides`] on top, or a fixed [`PluginConfig`]), builds the backend under one
//! per-call budget whatever the source (kube-apiserver's 3 s:
//! [`PluginConfig::backend_config`]), serves the socket and the health endpoints,
//! rebuilds the backend on SIGHUP, on a change of the configuration or key file, or
//! through a [`Reloader`], and drains on shutdown ([`shutdown_signal`]: SIGTERM or
//! SIGINT). It reports what happens as [`Event`]s; `ksec kms serve` only turns its
//! flags into a [`ConfigSource`] and prints those events. The parts stand alone too:
//! [`Plugin`] (the state both API versions share), [`serve`] and [`serve_health`].
//! [`Client`] is the other side: it calls a plugin over its socket the way
//! kube-apiserver does, for programs that need what a plugin wrapped (an etcd value's
//! seed); [`connect`] gives the raw channel for the generated [`proto`] stubs.
//!
//! ```
//! use ksec_keys::{local::LocalConfig, BackendConfig};
//! use ksec_kms::{Client, ConfigSource, Daemon, PluginConfig, RunOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let key_file = dir.path().join("kms-keys");
//! ksec_keys::local::rotate_key_file(&key_file)?; // a fresh key, mode 0600
//! let socket = dir.path().join("kms.sock");
//! let mut config = PluginConfig::new(BackendConfig::Local(LocalConfig {
//!     key_file,
//!     allow_insecure_permissions: false,
//! }));
//! config.socket = Some(socket.clone());
//!
//! ksec_kms::runtime()?.block_on(async {
//!     let daemon = Daemon::start(ConfigSource::Fixed(config), RunOptions::new()).await?;
//!     let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//!     let plugin = tokio::spawn(daemon.run(async { let _ = stopped.await; }));
//!     while tokio::net::UnixStream::connect(&socket).await.is_err() {
//!         tokio::task::yield_now().await;
//!     }
//!
//!     // What kube-apiserver does: Status, then Encrypt a seed, Decrypt it later.
//!     let mut apiserver = Client::connect(&socket).await?;
//!     let status = apiserver.status().await?;
//!     assert_eq!((status.version.as_str(), status.healthz.as_str()), ("v2", "ok"));
//!     let seed = [7u8; 32];
//!     let wrapped = apiserver.encrypt(&seed, "uid-1").await?;
//!     assert_eq!(wrapped.key_id, status.key_id);
//!     assert_eq!(apiserver.decrypt(&wrapped, "uid-2").await?.as_slice(), seed);
//!     let mut altered = wrapped.clone();
//!     altered.ciphertext[0] ^= 1;
//!     assert!(apiserver.decrypt(&altered, "uid-3").await.is_err());
//!
//!     let _ = stop.send(()); // as SIGTERM would: drain, remove the socket
//!     plugin.await??;
//!     assert!(!socket.exists());
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! Testing: `tests/ksec-kms/` drives the plugin over its socket with gRPC clients
//! that are not ours (Python `grpcio` stubs generated from the same official proto,
//! and grpc-go, kube-apiserver's gRPC library), against the real backends' peers
//! (OpenBao, moto, SoftHSM 2); the run loop's reloads (SIGHUP, file change) and
//! drain are tested there too. The parsers of outside input (requests, the
//! `grpc-timeout` header, the configuration file) have fuzz targets.
#![forbid(unsafe_code)]

mod client;
mod config;
mod daemon;
mod error;
mod grpc;
mod health;
mod http;
mod limits;
mod metrics;
mod server;
mod v1;
mod v2;

pub use client::{connect, Client, PluginStatus, Wrapped};
pub use config::{ConfigSource, Overrides, PluginConfig, APISERVER_CALL_TIMEOUT};
pub use daemon::{
    shutdown_signal, Daemon, Event, ReloadReason, Reloader, RunOptions, POLL_INTERVAL,
};
pub use error::Error;
pub use http::serve_health;
pub use limits::{MAX_ANNOTATIONS_BYTES, MAX_CIPHERTEXT, MAX_KEY_ID, MAX_PLAINTEXT};
pub use metrics::Metrics;
pub use server::serve;

use health::HealthCache;
use ksec_keys::{Health, KeyBackend, KeyError};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Code generated from the vendored protos.
pub mod proto {
    /// `v2.KeyManagementService` (k8s.io/kms/apis/v2).
    pub mod v2 {
        #![allow(missing_docs, clippy::all)]
        tonic::include_proto!("v2");
    }
    /// `v1beta1.KeyManagementService` (k8s.io/kms/apis/v1beta1).
    pub mod v1beta1 {
        #![allow(missing_docs, clippy::all)]
        tonic::include_proto!("v1beta1");
    }
}

/// The plugin's state shared by both API versions: the current backend and the
/// health cache.
pub struct Plugin {
    backend: RwLock<Arc<dyn KeyBackend>>,
    health: HealthCache,
    metrics: Metrics,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// A plugin over `backend`; health results are reused for `ok_ttl` when healthy
    /// and `fail_ttl` when not.
    pub fn new(backend: Arc<dyn KeyBackend>, ok_ttl: Duration, fail_ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            backend: RwLock::new(backend),
            health: HealthCache::new(ok_ttl, fail_ttl),
            metrics: Metrics::default(),
        })
    }

    /// The backend serving calls now.
    pub fn backend(&self) -> Arc<dyn KeyBackend> {
        match self.backend.read() {
            Ok(b) => b.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Swaps the backend (a reload). In-flight calls finish on the old one.
    pub fn replace_backend(&self, backend: Arc<dyn KeyBackend>) {
        match self.backend.write() {
            Ok(mut b) => *b = backend,
            Err(p) => *p.into_inner() = backend,
        }
        self.health.invalidate();
    }

    /// The call counters and latency histograms.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The cached health of the current backend.
    pub async fn health(&self) -> Result<Health, KeyError> {
        self.health.check(self.backend()).await
    }
}

/// The async runtime `ksec kms serve` runs on: one thread. kube-apiserver sends
/// every call over one connection, and a connection is one task (its calls run
/// inside it), so more worker threads would only add wake-ups across threads;
/// measured with `scripts/bench kms` (a two-worker runtime: lower throughput and a
/// p99 above 1 ms at 64 callers, against under 1 ms on one thread). PKCS#11 calls
/// still leave this thread for tokio's blocking pool.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Entry points for the fuzz targets and benchmarks: not API, may change in any
/// release.
#[doc(hidden)]
pub mod internal {
    /// The gRPC framing and header parsers.
    pub mod grpc {
        pub use crate::grpc::{
            code_value, encode, frame, parse_timeout, percent_encode, unary_message,
            MAX_REQUEST_MESSAGE,
        };
    }
    pub use crate::limits::{
        check_decrypt, check_encrypt, parse_decrypt_request, parse_encrypt_request,
    };
}

/// Runs one handler, recording its outcome and latency in the plugin's metrics.
pub(crate) async fn timed<T>(
    plugin: &Plugin,
    api: &'static str,
    op: &'static str,
    fut: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> Result<T, tonic::Status> {
    let kind = plugin.backend().kind();
    let start = std::time::Instant::now();
    let r = fut.await;
    let code = match &r {
        Ok(_) => "OK",
        Err(s) => metrics::code_name(s.code()),
    };
    plugin
        .metrics()
        .record(api, op, kind, code, start.elapsed());
    r
}
