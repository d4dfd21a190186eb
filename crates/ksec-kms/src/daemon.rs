//! The plugin as a long-running process, as `ksec kms serve` runs it: the
//! configuration resolved from its [`ConfigSource`], the backend built under the
//! plugin's per-call budget, the socket and the health endpoints served, the backend
//! rebuilt on SIGHUP, on a change of a watched file (polled: a stat of each path
//! every 2 s, which also sees a Kubernetes Secret volume swap its files through
//! symlinks) or on request, and a drain on shutdown.
//!
//! A reload replaces the backend only: the socket and the health address stay those
//! the process started with. A reload that fails (a broken key file, an unreachable
//! configuration) leaves the previous backend serving and says why in an
//! [`Event::ReloadFailed`].
use crate::config::ConfigSource;
use crate::error::chain;
use crate::{Error, Plugin, PluginConfig};
use ksec_keys::{Health, KeyError, KeyId};
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

/// How often watched files are checked for changes by default.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Why the plugin reloaded its backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadReason {
    /// The process received SIGHUP.
    Signal,
    /// A watched file (the configuration file, a local key file) changed.
    FileChanged,
    /// A [`Reloader`] asked for it.
    Requested,
}

impl fmt::Display for ReloadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReloadReason::Signal => "SIGHUP",
            ReloadReason::FileChanged => "file changed",
            ReloadReason::Requested => "requested",
        })
    }
}

/// What the running plugin reports, for a program's own output. Every event is
/// also logged with `tracing`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// The backend is built; the result of its first health check. The plugin
    /// serves either way: Status reports the problem and the backend may recover.
    Started {
        /// The backend kind (`local`, `vault`, …).
        backend: &'static str,
        /// The first health check.
        health: Result<Health, KeyError>,
    },
    /// The health endpoints (when configured) are up and the socket is bound:
    /// clients can connect.
    Serving {
        /// The socket.
        socket: PathBuf,
    },
    /// A new backend serves from now on.
    Reloaded {
        /// What triggered the reload.
        reason: ReloadReason,
        /// The new backend's key id.
        key_id: KeyId,
    },
    /// A reload failed; the previous backend keeps serving.
    ReloadFailed {
        /// What triggered the reload.
        reason: ReloadReason,
        /// Why it failed.
        error: Error,
    },
    /// Shutdown began: no new connections; calls in flight finish (at most 25 s).
    ShuttingDown,
}

type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

/// How the plugin process behaves besides its configuration.
#[derive(Clone)]
pub struct RunOptions {
    reload_on_sighup: bool,
    poll_interval: Option<Duration>,
    listener: Option<Listener>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            reload_on_sighup: true,
            poll_interval: Some(POLL_INTERVAL),
            listener: None,
        }
    }
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("reload_on_sighup", &self.reload_on_sighup)
            .field("poll_interval", &self.poll_interval)
            .field("listener", &self.listener.is_some())
            .finish()
    }
}

impl RunOptions {
    /// Reload on SIGHUP, poll watched files every [`POLL_INTERVAL`], no listener.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether SIGHUP reloads the backend (default: yes). The handler is process-wide:
    /// once installed, SIGHUP no longer ends the process.
    pub fn reload_on_sighup(mut self, on: bool) -> Self {
        self.reload_on_sighup = on;
        self
    }

    /// How often watched files are checked for changes; `None` never.
    pub fn poll_interval(mut self, every: Option<Duration>) -> Self {
        self.poll_interval = every;
        self
    }

    /// Calls `listener` with every [`Event`].
    pub fn on_event(mut self, listener: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    fn emit(&self, event: Event) {
        if let Some(l) = &self.listener {
            l(&event);
        }
    }
}

/// Asks a running [`Daemon`] to reload its backend, as SIGHUP does.
#[derive(Clone, Debug)]
pub struct Reloader(Arc<Notify>);

impl Reloader {
    /// Requests a reload (requests made while one runs are merged into one more).
    pub fn reload(&self) {
        self.0.notify_one();
    }
}

/// The KMS plugin process: started with [`Daemon::start`], run until shutdown with
/// [`Daemon::run`].
pub struct Daemon {
    source: ConfigSource,
    config: PluginConfig,
    socket: PathBuf,
    plugin: Arc<Plugin>,
    options: RunOptions,
    reload: Arc<Notify>,
}

impl fmt::Debug for Daemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Daemon")
            .field("socket", &self.socket)
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// Resolves the configuration, builds the backend (with the per-call budget of
    /// [`PluginConfig::backend_config`]) and checks its health once. Nothing is bound yet.
    pub async fn start(source: ConfigSource, options: RunOptions) -> Result<Self, Error> {
        let config = source.resolve()?;
        let socket = config.socket.clone().ok_or(Error::NoSocket)?;
        let backend = config
            .backend_config()
            .build()
            .await
            .map_err(|source| Error::Backend { source })?;
        let plugin = Plugin::new(backend, config.health_ok_ttl(), config.health_fail_ttl());
        let kind = plugin.backend().kind();
        let health = plugin.health().await;
        match &health {
            Ok(h) => tracing::info!(backend = kind, key_id = %h.key_id, "backend ready"),
            Err(e) => tracing::warn!(backend = kind, error = %e, "backend not healthy yet"),
        }
        options.emit(Event::Started {
            backend: kind,
            health,
        });
        Ok(Self {
            source,
            config,
            socket,
            plugin,
            options,
            reload: Arc::new(Notify::new()),
        })
    }

    /// The plugin state (backend, health, metrics).
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// The configuration the process started with.
    pub fn config(&self) -> &PluginConfig {
        &self.config
    }

    /// A handle that triggers reloads while [`run`](Self::run) runs.
    pub fn reloader(&self) -> Reloader {
        Reloader(self.reload.clone())
    }

    /// Serves the health endpoints (when configured) and the socket until `shutdown`
    /// resolves, reloading as configured; then drains (see [`crate::serve`]) and
    /// returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let health = match &self.config.health_addr {
            None => None,
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| Error::HealthAddr {
                        addr: addr.clone(),
                        source,
                    })?;
                let plugin = self.plugin.clone();
                let mut rx = stop_rx;
                let stopped = async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                Some(AbortOnDrop(tokio::spawn(async move {
                    if let Err(e) = crate::serve_health(listener, plugin, stopped).await {
                        tracing::error!(error = %e, "health endpoint failed");
                    }
                })))
            }
        };
        let hup = if self.options.reload_on_sighup {
            use tokio::signal::unix::{signal, SignalKind};
            Some(
                signal(SignalKind::hangup()).map_err(|source| Error::Signal {
                    signal: "SIGHUP",
                    source,
                })?,
            )
        } else {
            None
        };
        let _reloads = AbortOnDrop(tokio::spawn(reloads(
            self.source.clone(),
            self.source.watched_files(&self.config),
            self.plugin.clone(),
            self.options.clone(),
            hup,
            self.reload.clone(),
        )));
        let listener = crate::server::bind(&self.socket)?;
        self.options.emit(Event::Serving {
            socket: self.socket.clone(),
        });
        let options = self.options.clone();
        let shutdown = async move {
            shutdown.await;
            tracing::info!("shutting down");
            options.emit(Event::ShuttingDown);
            // The health endpoints stop with the socket (they drain meanwhile).
            let _ = stop_tx.send(true);
        };
        crate::server::serve_on(&self.socket, listener, self.plugin.clone(), shutdown).await;
        drop(health);
        Ok(())
    }
}

/// Aborts a task when dropped, so no task outlives [`Daemon::run`].
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits for reload triggers and reloads, one at a time.
async fn reloads(
    source: ConfigSource,
    files: Vec<PathBuf>,
    plugin: Arc<Plugin>,
    options: RunOptions,
    mut hup: Option<tokio::signal::unix::Signal>,
    requested: Arc<Notify>,
) {
    let mut last = stamp(&files);
    let mut tick = options.poll_interval.map(|every| {
        let mut t = tokio::time::interval(every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let reason = tokio::select! {
            Some(()) = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => ReloadReason::Signal,
            () = requested.notified() => ReloadReason::Requested,
            () = async {
                match tick.as_mut() {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => std::future::pending().await,
                }
            } => {
                if stamp(&files) == last {
                    continue;
                }
                ReloadReason::FileChanged
            }
        };
        // What this reload reads is the new baseline: a SIGHUP after a rotation
        // does not reload a second time when the poll sees the same change.
        last = stamp(&files);
        reload(&source, &plugin, &options, reason).await;
    }
}

/// Rebuilds the backend; on failure the old one keeps serving.
async fn reload(
    source: &ConfigSource,
    plugin: &Plugin,
    options: &RunOptions,
    reason: ReloadReason,
) {
    let before = plugin.backend().key_id();
    let built = match source.resolve() {
        Ok(cfg) => cfg
            .backend_config()
            .build()
            .await
            .map_err(|source| Error::Backend { source }),
        Err(e) => Err(e),
    };
    match built {
        Ok(backend) => {
            let key_id = backend.key_id();
            plugin.replace_backend(backend);
            tracing::info!(reason = %reason, key_id_before = %before, key_id = %key_id, "backend reloaded");
            options.emit(Event::Reloaded { reason, key_id });
        }
        Err(error) => {
            tracing::error!(reason = %reason, error = %chain(&error), "reload failed; the previous backend keeps serving");
            options.emit(Event::ReloadFailed { reason, error });
        }
    }
}

/// What is watched of each file: modification time and size (`None`: missing).
fn stamp(paths: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    paths.iter().map(|p| file_stamp(p)).collect()
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Resolves when the process receives SIGTERM (as Kubernetes stops a pod) or SIGINT.
/// Call it inside the runtime; the handlers are installed at once.
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, Error> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|source| Error::Signal {
        signal: "SIGTERM",
        source,
    })?;
    let mut int = signal(SignalKind::interrupt()).map_err(|source| Error::Signal {
        signal: "SIGINT",
        source,
    })?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
