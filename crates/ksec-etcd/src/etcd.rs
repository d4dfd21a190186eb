//! A read-only etcd v3 client over the workspace's gRPC stack (tonic + prost, protos
//! compiled by protox). It only ever calls `KV.Range` and `Watch.Watch`: ksec never
//! writes to etcd.
//!
//! - [`EtcdClient::latest`] lists a prefix in pages (`limit`, then continue after the
//!   last key), all pages at the revision of the first one, so the listing is one
//!   consistent snapshot and memory holds one page at a time. Pages are sized by bytes
//!   (about [`PAGE_BYTES`] of values each, from the sizes seen so far): etcd 3.4 walks
//!   the whole rest of the range for every request (to count it), so many small pages
//!   make a listing quadratic, while a bound in bytes keeps memory flat whatever the
//!   number of keys. A page too large for a gRPC message is fetched again in smaller pages.
//! - [`EtcdClient::history`] yields every value etcd still keeps under a prefix: etcd
//!   keeps, for each key, its value as of the last compaction revision `C` and every
//!   revision after it (older revisions are gone for good). So history is the listing at
//!   revision `C` followed by the watch events from `C + 1` to the current revision. The
//!   watch covers the whole keyspace, because the current revision is the revision of
//!   the last write anywhere: seeing an event at that revision proves the catch-up is
//!   complete (etcd 3.4's progress requests do not).
use crate::error::{Error, Result};
use crate::proto::etcdserverpb::{
    kv_client::KvClient, watch_client::WatchClient, watch_request, RangeRequest,
    WatchCreateRequest, WatchRequest,
};
use crate::proto::mvccpb::{event::EventType, KeyValue};
use crate::Record;
use futures::StreamExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The largest gRPC message accepted from etcd (etcd's own default request limit is
/// 1.5 MiB per value; a page of values is bounded by the page size).
const MAX_MESSAGE: usize = 256 * 1024 * 1024;
/// The values one listing page aims at, in bytes.
pub const PAGE_BYTES: usize = 8 * 1024 * 1024;
/// The most keys one page asks for.
const PAGE_KEYS_MAX: i64 = 100_000;
/// How long history may go without an event before the walk gives up.
const WATCH_IDLE: Duration = Duration::from_secs(30);

/// TLS files for the connection (etcdctl's `--cacert`, `--cert`, `--key`).
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    /// CA bundle that signed etcd's server certificate.
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM).
    pub cert: Option<PathBuf>,
    /// Client key (PEM).
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    fn any(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some()
    }
}

/// A connection to one etcd member.
#[derive(Clone, Debug)]
pub struct EtcdClient {
    channel: Channel,
    endpoint: String,
    timeout: Duration,
}

fn read(path: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::TlsFile {
        path: path.clone(),
        reason: e.to_string(),
    })
}

/// An error with its causes, for messages (tonic's top-level message alone is vague).
pub(crate) use ksec_text::error_chain as chain;

fn status(endpoint: &str, what: &str, s: &tonic::Status) -> Error {
    Error::Etcd {
        endpoints: endpoint.to_string(),
        reason: format!("{what}: {:?}: {}", s.code(), s.message()),
    }
}

impl EtcdClient {
    /// Connects to the first of `endpoints` (`http://host:port`, `https://…`, or
    /// `host:port`) that answers within `timeout`.
    pub async fn connect(endpoints: &[String], tls: &TlsFiles, timeout: Duration) -> Result<Self> {
        let all = endpoints.join(",");
        let tls_config = if tls.any() {
            let mut c = ClientTlsConfig::new();
            if let Some(ca) = &tls.ca {
                c = c.ca_certificate(Certificate::from_pem(read(ca)?));
            }
            match (&tls.cert, &tls.key) {
                (Some(cert), Some(key)) => {
                    c = c.identity(Identity::from_pem(read(cert)?, read(key)?));
                }
                (None, None) => {}
                (Some(p), None) | (None, Some(p)) => {
                    return Err(Error::TlsFile {
                        path: p.clone(),
                        reason: "a client certificate needs its key, and a key its certificate"
                            .into(),
                    })
                }
            }
            Some(c)
        } else {
            None
        };
        let mut last = String::from("no endpoint given");
        for ep in endpoints.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let url = if ep.contains("://") {
                ep.to_string()
            } else if tls_config.is_some() {
                format!("https://{ep}")
            } else {
                format!("http://{ep}")
            };
            let mut endpoint = match Endpoint::from_shared(url.clone()) {
                Ok(e) => e.connect_timeout(timeout),
                Err(e) => {
                    last = format!("{ep}: {}", chain(&e));
                    continue;
                }
            };
            if url.starts_with("https://") {
                let mut c = tls_config
                    .clone()
                    .unwrap_or_else(|| ClientTlsConfig::new().with_enabled_roots());
                if let Some(host) = endpoint.uri().host() {
                    c = c.domain_name(host.to_string());
                }
                endpoint = match endpoint.tls_config(c) {
                    Ok(e) => e,
                    Err(e) => {
                        last = format!("{ep}: {}", chain(&e));
                        continue;
                    }
                };
            }
            match tokio::time::timeout(timeout, endpoint.connect()).await {
                Ok(Ok(channel)) => {
                    return Ok(Self {
                        channel,
                        endpoint: url,
                        timeout,
                    })
                }
                Ok(Err(e)) => last = format!("{ep}: {}", chain(&e)),
                Err(_) => last = format!("{ep}: no answer within {timeout:?}"),
            }
        }
        Err(Error::Etcd {
            endpoints: all,
            reason: format!("cannot connect ({last})"),
        })
    }

    /// The endpoint connected to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn kv(&self) -> KvClient<Channel> {
        KvClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE)
    }

    async fn range(
        &self,
        req: RangeRequest,
    ) -> std::result::Result<crate::proto::etcdserverpb::RangeResponse, tonic::Status> {
        match tokio::time::timeout(self.timeout, self.kv().range(req)).await {
            Ok(r) => r.map(|r| r.into_inner()),
            Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                "no answer within {:?}",
                self.timeout
            ))),
        }
    }

    /// The number of keys under `prefix` now, and the store's current revision.
    pub async fn count(&self, prefix: &[u8]) -> Result<(u64, i64)> {
        let r = self
            .range(RangeRequest {
                key: prefix.to_vec().into(),
                range_end: prefix_end(prefix).into(),
                count_only: true,
                ..Default::default()
            })
            .await
            .map_err(|s| status(&self.endpoint, "count", &s))?;
        let rev = r.header.map(|h| h.revision).unwrap_or(0);
        Ok((u64::try_from(r.count).unwrap_or(0), rev))
    }

    /// The current values under `prefix`: `page_size` keys in the first request, then
    /// pages of about [`PAGE_BYTES`].
    pub fn latest(&self, prefix: &[u8], page_size: usize) -> RangePages {
        RangePages {
            client: self.clone(),
            next: prefix.to_vec(),
            end: prefix_end(prefix),
            revision: 0,
            page: (page_size as i64).clamp(1, PAGE_KEYS_MAX),
            done: false,
            keys_only: false,
        }
    }

    /// Every value etcd still keeps under `prefix`: each key as of the last compaction,
    /// then every later write (see the module docs). Keys that were deleted since are
    /// included; deletions themselves carry no value and are skipped.
    pub async fn history(&self, prefix: &[u8], page_size: usize) -> Result<History> {
        let (_, target) = self.count(prefix).await?;
        // The latest revision of every key now: says which history entries are current.
        let mut current = HashMap::new();
        let mut keys = self.latest(prefix, page_size.max(1000));
        keys.keys_only = true;
        while let Some(page) = keys.next_page().await? {
            for r in page {
                current.insert(crate::key_hash(&r.key), r.mod_revision);
            }
        }
        let mut h = History {
            client: self.clone(),
            prefix: prefix.to_vec(),
            target,
            current,
            base: None,
            watch: None,
            done: target <= 1,
            page_size,
        };
        if !h.done {
            h.open_watch(1).await?;
        }
        Ok(h)
    }
}

/// The end of the range of keys starting with `prefix` (etcdctl's `--prefix`).
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0] // the whole keyspace
}

fn record(kv: KeyValue, current: bool) -> Record {
    Record {
        key: kv.key,
        value: kv.value,
        mod_revision: kv.mod_revision,
        create_revision: kv.create_revision,
        version: kv.version,
        current,
    }
}

/// A paginated listing; see [`EtcdClient::latest`].
#[derive(Debug)]
pub struct RangePages {
    client: EtcdClient,
    next: Vec<u8>,
    end: Vec<u8>,
    revision: i64,
    page: i64,
    done: bool,
    keys_only: bool,
}

impl RangePages {
    /// Pins the listing to `revision` (instead of the revision of its first page).
    pub fn at_revision(mut self, revision: i64) -> Self {
        self.revision = revision;
        self
    }

    /// The next page; `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Record>>> {
        if self.done {
            return Ok(None);
        }
        loop {
            let req = RangeRequest {
                key: self.next.clone().into(),
                range_end: self.end.clone().into(),
                limit: self.page,
                revision: self.revision,
                keys_only: self.keys_only,
                ..Default::default()
            };
            let r = match self.client.range(req).await {
                Ok(r) => r,
                // Too large for one message: the same page in smaller requests.
                Err(s)
                    if s.code() == tonic::Code::OutOfRange
                        && s.message().contains("message length")
                        && self.page > 1 =>
                {
                    self.page = (self.page / 4).max(1);
                    continue;
                }
                Err(s) if s.message().contains("compacted") => {
                    return Err(Error::Etcd {
                        endpoints: self.client.endpoint.clone(),
                        reason: format!(
                            "revision {} was compacted while the listing ran; run it again",
                            self.revision
                        ),
                    })
                }
                Err(s) => return Err(status(&self.client.endpoint, "range", &s)),
            };
            if self.revision == 0 {
                self.revision = r.header.as_ref().map(|h| h.revision).unwrap_or(0);
            }
            match r.kvs.last() {
                Some(last) if r.more => {
                    let mut next = last.key.to_vec();
                    next.push(0);
                    self.next = next;
                }
                _ => self.done = true,
            }
            let bytes: usize = r
                .kvs
                .iter()
                .map(|kv| kv.key.len() + kv.value.len() + 32)
                .sum();
            if let Some(avg) = bytes.checked_div(r.kvs.len()) {
                self.page = ((PAGE_BYTES / avg.max(1)) as i64).clamp(1, PAGE_KEYS_MAX);
            }
            return Ok(Some(r.kvs.into_iter().map(|kv| record(kv, true)).collect()));
        }
    }
}

/// Every value etcd keeps under a prefix; see [`EtcdClient::history`].
#[derive(Debug)]
pub struct History {
    client: EtcdClient,
    prefix: Vec<u8>,
    target: i64,
    current: HashMap<[u8; 16], i64>,
    base: Option<RangePages>,
    watch: Option<WatchStream>,
    done: bool,
    page_size: usize,
}

struct WatchStream {
    _requests: futures::channel::mpsc::UnboundedSender<WatchRequest>,
    responses: tonic::Streaming<crate::proto::etcdserverpb::WatchResponse>,
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchStream")
    }
}

impl History {
    async fn open_watch(&mut self, start: i64) -> Result<()> {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let create = WatchRequest {
            request_union: Some(watch_request::RequestUnion::CreateRequest(
                WatchCreateRequest {
                    key: vec![0].into(),
                    range_end: vec![0].into(),
                    start_revision: start,
                    fragment: true,
                    ..Default::default()
                },
            )),
        };
        tx.unbounded_send(create).map_err(|_| Error::Etcd {
            endpoints: self.client.endpoint.clone(),
            reason: "watch: the request stream closed".into(),
        })?;
        let mut client =
            WatchClient::new(self.client.channel.clone()).max_decoding_message_size(MAX_MESSAGE);
        let responses = tokio::time::timeout(self.client.timeout, client.watch(rx))
            .await
            .map_err(|_| Error::Etcd {
                endpoints: self.client.endpoint.clone(),
                reason: "watch: no answer".into(),
            })?
            .map_err(|s| status(&self.client.endpoint, "watch", &s))?
            .into_inner();
        self.watch = Some(WatchStream {
            _requests: tx,
            responses,
        });
        Ok(())
    }

    fn is_current(&self, r: &Record) -> bool {
        self.current.get(&crate::key_hash(&r.key)) == Some(&r.mod_revision)
    }

    /// The next batch of values, oldest revision first; `None` at the end.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Record>>> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(base) = &mut self.base {
                match base.next_page().await? {
                    Some(mut page) => {
                        for r in &mut page {
                            r.current = self.is_current(r);
                        }
                        return Ok(Some(page));
                    }
                    None => self.base = None,
                }
                continue;
            }
            let Some(w) = &mut self.watch else {
                return Ok(None);
            };
            let msg = match tokio::time::timeout(WATCH_IDLE, w.responses.next()).await {
                Err(_) => {
                    return Err(Error::Etcd {
                        endpoints: self.client.endpoint.clone(),
                        reason: format!(
                            "watch: no event for {WATCH_IDLE:?} before revision {}",
                            self.target
                        ),
                    })
                }
                Ok(None) => {
                    return Err(Error::Etcd {
                        endpoints: self.client.endpoint.clone(),
                        reason: format!("watch: the stream ended before revision {}", self.target),
                    })
                }
                Ok(Some(Err(s))) => return Err(status(&self.client.endpoint, "watch", &s)),
                Ok(Some(Ok(m))) => m,
            };
            if msg.compact_revision > 0 {
                // Compacted: the values as of the compaction, then the watch after it.
                let c = msg.compact_revision;
                self.watch = None;
                self.base = Some(
                    self.client
                        .latest(&self.prefix, self.page_size)
                        .at_revision(c),
                );
                if c < self.target {
                    self.open_watch(c + 1).await?;
                } else {
                    self.done_after_base();
                }
                continue;
            }
            if msg.canceled {
                return Err(Error::Etcd {
                    endpoints: self.client.endpoint.clone(),
                    reason: format!("watch canceled: {}", msg.cancel_reason),
                });
            }
            let mut out = vec![];
            let mut reached = false;
            for ev in msg.events {
                let Some(kv) = ev.kv else { continue };
                reached |= kv.mod_revision >= self.target;
                if kv.mod_revision > self.target
                    || ev.r#type != EventType::Put as i32
                    || !kv.key.starts_with(&self.prefix)
                {
                    continue;
                }
                let mut r = record(kv, false);
                r.current = self.is_current(&r);
                out.push(r);
            }
            // A revision's events come in one response, or in fragments of one.
            if reached && !msg.fragment {
                self.done_after_base();
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }

    fn done_after_base(&mut self) {
        self.watch = None;
        if self.base.is_none() {
            self.done = true;
        }
    }
}
