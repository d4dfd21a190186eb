//! One way to read stored values from either place they live: a live etcd (through
//! [`EtcdClient`]) or a snapshot file ([`Snapshot`]).
use crate::error::Result;
use crate::etcd::{EtcdClient, History, RangePages};
use crate::snapshot::{Snapshot, SnapshotScan};
use crate::Record;

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
