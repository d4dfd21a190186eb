//! One way to read stored values from either place they live: a live etcd (through
//! [`EtcdClient`]) or a snapshot file ([`Snapshot`]), opened from a [`Location`]; and
//! [`Source::read_each`], which reads every value of a [`Scope`]'s resources, one
//! resource after the other, and carries on past a resource that cannot be read.
use crate::error::{Error, Result};
use crate::etcd::{EtcdClient, History, RangePages, TlsFiles};
use crate::registry::resource_prefix;
use crate::snapshot::{Snapshot, SnapshotScan};
use crate::Record;
use std::path::PathBuf;
use std::time::Duration;

/// Where stored values are: the two ways etcdctl reaches them.
#[derive(Clone, Debug)]
pub enum Location {
    /// A snapshot file (`etcdctl snapshot save`, or a member's `db` file).
    Snapshot(PathBuf),
    /// A live etcd.
    Etcd {
        /// Endpoints, tried in order (`http://host:port`, `https://…`, `host:port`).
        endpoints: Vec<String>,
        /// TLS files of the connection.
        tls: TlsFiles,
        /// Connection and request timeout.
        timeout: Duration,
    },
}

/// Which values a read covers.
#[derive(Clone, Debug)]
pub struct Scope {
    /// The apiserver's etcd prefix (its `--etcd-prefix`, `/registry` by default).
    pub prefix: String,
    /// The resources, as an EncryptionConfiguration names them: `secrets`,
    /// `deployments.apps`, `widgets.example.com`; each is read under its
    /// [`resource_prefix`].
    pub resources: Vec<String>,
    /// Every revision the store still keeps (history since the last compaction), not
    /// only the current values.
    pub all_revisions: bool,
    /// Keys in the first etcd request (later requests size themselves by the values).
    pub page_size: usize,
}

impl Scope {
    /// The current values of `resources` under `/registry`, 1000 keys a page.
    pub fn new(resources: Vec<String>) -> Self {
        Self {
            prefix: "/registry".into(),
            resources,
            all_revisions: false,
            page_size: 1000,
        }
    }
}

/// Where a resource's read failed; see [`ReadObserver::resource_failed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadStage {
    /// The listing could not start: nothing of the resource was read.
    Start,
    /// A later request failed: the rest of the resource was not read.
    Page,
}

/// Hears how a [`Source::read_each`] goes, to show progress and failures. Every method
/// does nothing by default; `()` is an observer that ignores everything.
pub trait ReadObserver {
    /// The read of a resource begins: its etcd key prefix and, when the source can tell
    /// cheaply (a live etcd, current values only), how many keys it holds.
    fn resource_started(&mut self, prefix: &str, keys: Option<u64>) {
        let _ = (prefix, keys);
    }
    /// `values` more values of the current resource were read and handed on.
    fn values_read(&mut self, values: u64) {
        let _ = values;
    }
    /// The resource under `prefix` could not be read (at `stage`); the read goes on
    /// with the next resource and reports itself incomplete.
    fn resource_failed(&mut self, prefix: &str, stage: ReadStage, error: &Error) {
        let _ = (prefix, stage, error);
    }
    /// The read of the resource under `prefix` ended, after a failure too.
    fn resource_finished(&mut self, prefix: &str) {
        let _ = prefix;
    }
}

impl ReadObserver for () {}

/// Where values are read from.
#[derive(Debug)]
pub enum Source {
    /// A live etcd member.
    Etcd(EtcdClient),
    /// A snapshot file.
    Snapshot(Snapshot),
}

/// A read in progress; see [`Source::scan`].
#[derive(Debug)]
pub struct Scan(Inner);

#[derive(Debug)]
enum Inner {
    Pages(RangePages),
    History(Box<History>),
    Snapshot(SnapshotScan),
}

impl Source {
    /// Opens the snapshot (checking its SHA-256 trailer when it has one), or connects
    /// to the first etcd endpoint that answers.
    pub async fn open(location: &Location) -> Result<Self> {
        Ok(match location {
            Location::Snapshot(path) => Source::Snapshot(Snapshot::open(path)?),
            Location::Etcd {
                endpoints,
                tls,
                timeout,
            } => Source::Etcd(EtcdClient::connect(endpoints, tls, *timeout).await?),
        })
    }

    /// Reads every value of `scope`'s resources, one resource after the other, and
    /// hands each to `each` with the resource it belongs to. A resource that cannot be
    /// read (or read to its end) is reported to `observer` and the others still run;
    /// returns whether everything was read. An error of `each` stops the read.
    pub async fn read_each<E>(
        &self,
        scope: &Scope,
        observer: &mut impl ReadObserver,
        mut each: impl AsyncFnMut(&str, Record) -> Result<(), E>,
    ) -> Result<bool, E> {
        let mut complete = true;
        for resource in &scope.resources {
            let prefix = resource_prefix(&scope.prefix, resource);
            // Counting history would cost a read of its own.
            let keys = if scope.all_revisions {
                None
            } else {
                self.count(prefix.as_bytes()).await
            };
            observer.resource_started(&prefix, keys);
            let scan = self
                .scan(prefix.as_bytes(), scope.all_revisions, scope.page_size)
                .await;
            let mut scan = match scan {
                Ok(scan) => scan,
                Err(e) => {
                    observer.resource_failed(&prefix, ReadStage::Start, &e);
                    observer.resource_finished(&prefix);
                    complete = false;
                    continue;
                }
            };
            loop {
                match scan.next_batch().await {
                    Ok(Some(batch)) => {
                        let n = batch.len() as u64;
                        for r in batch {
                            each(resource, r).await?;
                        }
                        observer.values_read(n);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        observer.resource_failed(&prefix, ReadStage::Page, &e);
                        complete = false;
                        break;
                    }
                }
            }
            observer.resource_finished(&prefix);
        }
        Ok(complete)
    }

    /// Starts reading every value under `prefix`: the current ones, or with
    /// `all_revisions` every revision the store still keeps (oldest first; each
    /// [`Record::current`] says whether it is the key's value now). `page_size` is the
    /// number of keys per etcd request.
    pub async fn scan(&self, prefix: &[u8], all_revisions: bool, page_size: usize) -> Result<Scan> {
        Ok(Scan(match (self, all_revisions) {
            (Source::Etcd(c), false) => Inner::Pages(c.latest(prefix, page_size)),
            (Source::Etcd(c), true) => {
                Inner::History(Box::new(c.history(prefix, page_size).await?))
            }
            (Source::Snapshot(s), all) => Inner::Snapshot(s.scan(prefix, all)),
        }))
    }

    /// How many keys are under `prefix` now, when the source can say cheaply (etcd).
    pub async fn count(&self, prefix: &[u8]) -> Option<u64> {
        match self {
            Source::Etcd(c) => c.count(prefix).await.ok().map(|(n, _)| n),
            Source::Snapshot(_) => None,
        }
    }
}

impl Scan {
    /// The next batch of values; `None` at the end.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Record>>> {
        match &mut self.0 {
            Inner::Pages(p) => p.next_page().await,
            Inner::History(h) => h.next_batch().await,
            Inner::Snapshot(s) => s.next_batch().await,
        }
    }
}

/// What a report names as the place values were read from: `etcd ENDPOINT`, or
/// `snapshot FILE` and whether its SHA-256 was checked.
impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Etcd(c) => write!(f, "etcd {}", c.endpoint()),
            Source::Snapshot(s) => write!(
                f,
                "snapshot {}{}",
                s.path().display(),
                if s.hash_checked() {
                    " (SHA-256 checked)"
                } else {
                    " (no SHA-256 trailer)"
                }
            ),
        }
    }
}
