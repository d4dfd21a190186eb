//! etcd snapshot files, read without etcd: the bbolt database `etcdctl snapshot save`
//! writes (the backend file of a member works too), followed by the SHA-256 of the
//! database when the snapshot came over the Maintenance API. As etcd's own restore
//! does, a file whose size is 32 bytes more than a multiple of 512 carries the hash; it
//! is checked before anything is read.
//!
//! Values live in the `key` bucket, keyed by revision (`main` 8 bytes big-endian, `_`,
//! `sub` 8 bytes, and a trailing `t` for a deletion), each an `mvccpb.KeyValue`. So the
//! bucket is ordered by revision, not by key: the current value of a key is its entry
//! with the highest revision unless that is a deletion. The bucket is read once, from
//! the newest revision back: the first entry met for a key is its current state, every
//! later one is history. Memory is the set of keys met (a 16-byte hash each, about 40
//! bytes per key under the prefix) plus one page path; values come newest first.
use crate::bbolt::{Db, FileSource, ReadAt};
use crate::error::{Error, Result, SnapshotError};
use crate::proto::mvccpb::KeyValue;
use crate::wire::Reader;
use crate::Record;
use prost::Message;
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Records sent per batch.
const BATCH: usize = 1000;

/// An open snapshot.
pub struct Snapshot {
    path: PathBuf,
    db: std::sync::Arc<Db<FileSource>>,
    hash_checked: bool,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("path", &self.path)
            .field("hash_checked", &self.hash_checked)
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// Opens a snapshot, checking its trailing SHA-256 when it has one.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| Error::SnapshotIo {
            path: path.to_path_buf(),
            source,
        };
        let bad = |problem| Error::Snapshot {
            path: path.to_path_buf(),
            problem,
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let has_hash = size % 512 == 32;
        let db_len = if has_hash { size - 32 } else { size };
        if has_hash {
            let mut h = ksec_crypto::hash::Sha256::new();
            let mut left = db_len;
            let mut buf = vec![0u8; 1 << 20];
            while left > 0 {
                let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
                file.read_exact(&mut buf[..n]).map_err(io)?;
                h.update(&buf[..n]);
                left -= n as u64;
            }
            let mut trailer = [0u8; 32];
            file.read_exact(&mut trailer).map_err(io)?;
            if h.finish() != trailer {
                return Err(bad(SnapshotError::HashMismatch));
            }
        }
        let db = Db::open(Box::new(FileSource { file, len: db_len })).map_err(bad)?;
        Ok(Self {
            path: path.to_path_buf(),
            db: std::sync::Arc::new(db),
            hash_checked: has_hash,
        })
    }

    /// The file it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the file carried a SHA-256 and it matched.
    pub fn hash_checked(&self) -> bool {
        self.hash_checked
    }

    /// Starts reading the values under `prefix` (current ones, or every revision the
    /// snapshot keeps) on a thread of its own; batches arrive through the returned
    /// handle, a few at a time, so memory stays flat.
    pub fn scan(&self, prefix: &[u8], all_revisions: bool) -> SnapshotScan {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let db = self.db.clone();
        let prefix = prefix.to_vec();
        let path = self.path.clone();
        std::thread::spawn(move || {
            let result = scan(&*db, &prefix, all_revisions, &mut |batch| {
                tx.blocking_send(Ok(batch)).is_ok()
            });
            if let Err(problem) = result {
                let _ = tx.blocking_send(Err(Error::Snapshot { path, problem }));
            }
        });
        SnapshotScan { rx }
    }
}

/// Batches of a snapshot being read; see [`Snapshot::scan`].
#[derive(Debug)]
pub struct SnapshotScan {
    rx: tokio::sync::mpsc::Receiver<Result<Vec<Record>>>,
}

impl SnapshotScan {
    /// The next batch; `None` at the end.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Record>>> {
        self.rx.recv().await.transpose()
    }
}

/// A revision key of the `key` bucket: (main, sub, deletion).
fn revision(k: &[u8]) -> Result<(u64, u64, bool), SnapshotError> {
    let tomb = match k.len() {
        17 => false,
        18 if k[17] == b't' => true,
        _ => {
            return Err(SnapshotError::Entry {
                entry: hex(k),
                reason: "not an etcd revision key (17 bytes, or 18 ending in 't')".into(),
            })
        }
    };
    if k[8] != b'_' {
        return Err(SnapshotError::Entry {
            entry: hex(k),
            reason: "no '_' between main and sub revision".into(),
        });
    }
    let be = |b: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        u64::from_be_bytes(a)
    };
    Ok((be(&k[..8]), be(&k[9..17]), tomb))
}

fn hex(b: &[u8]) -> String {
    b.iter().take(24).map(|x| format!("{x:02x}")).collect()
}

/// The etcd key of a stored `mvccpb.KeyValue` (field 1), without decoding the rest.
fn kv_key<'a>(v: &'a [u8], rev: &[u8]) -> Result<&'a [u8], SnapshotError> {
    let mut r = Reader::new(v);
    while let Some((f, val)) = r.next_field().map_err(|reason| SnapshotError::Entry {
        entry: hex(rev),
        reason,
    })? {
        if f == 1 {
            return val.bytes("key").map_err(|reason| SnapshotError::Entry {
                entry: hex(rev),
                reason,
            });
        }
    }
    Err(SnapshotError::Entry {
        entry: hex(rev),
        reason: "the KeyValue has no key".into(),
    })
}

/// The walk itself: `emit` gets batches and returns false to stop early.
pub(crate) fn scan<S: ReadAt + ?Sized>(
    db: &Db<S>,
    prefix: &[u8],
    all_revisions: bool,
    emit: &mut dyn FnMut(Vec<Record>) -> bool,
) -> Result<(), SnapshotError> {
    let bucket = db.bucket(b"key")?.ok_or(SnapshotError::NoKeyBucket)?;
    let mut seen: HashSet<[u8; 16]> = HashSet::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut stopped = false;
    let result = db.for_each(bucket, true, &mut |k, v, _| {
        if stopped {
            return Ok(());
        }
        let (_, _, tomb) = revision(k)?;
        let key = kv_key(v, k)?;
        if !key.starts_with(prefix) {
            return Ok(());
        }
        // Newest first: the first entry of a key is its state now.
        let current = seen.insert(crate::key_hash(key)) && !tomb;
        if tomb || (!current && !all_revisions) {
            return Ok(());
        }
        let kv = KeyValue::decode(v.clone()).map_err(|e| SnapshotError::Entry {
            entry: hex(k),
            reason: format!("not an mvccpb.KeyValue: {e}"),
        })?;
        batch.push(Record {
            key: kv.key,
            value: kv.value,
            mod_revision: kv.mod_revision,
            create_revision: kv.create_revision,
            version: kv.version,
            current,
        });
        if batch.len() >= BATCH && !emit(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))) {
            stopped = true;
        }
        Ok(())
    });
    result?;
    if !batch.is_empty() && !stopped {
        emit(batch);
    }
    Ok(())
}

/// Reads a database held in memory (the fuzz target's entry point).
pub(crate) fn scan_bytes(
    bytes: &[u8],
    prefix: &[u8],
    all_revisions: bool,
) -> Result<usize, SnapshotError> {
    let db: Db<[u8]> = Db::open(Box::<[u8]>::from(bytes))?;
    let mut n = 0;
    scan(&db, prefix, all_revisions, &mut |b| {
        n += b.len();
        true
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbolt::tests::build;

    fn rev(main: u64, tomb: bool) -> Vec<u8> {
        let mut k = main.to_be_bytes().to_vec();
        k.push(b'_');
        k.extend_from_slice(&0u64.to_be_bytes());
        if tomb {
            k.push(b't');
        }
        k
    }

    fn kv(key: &str, value: &str, main: i64) -> Vec<u8> {
        KeyValue {
            key: key.as_bytes().to_vec().into(),
            value: value.as_bytes().to_vec().into(),
            mod_revision: main,
            create_revision: 2,
            version: 1,
            lease: 0,
        }
        .encode_to_vec()
    }

    #[test]
    fn latest_values_and_history_as_etcd_keeps_them() {
        let file = build(&[
            (rev(2, false), kv("/registry/secrets/a", "v1", 2)),
            (rev(3, false), kv("/registry/secrets/a", "v2", 3)),
            (rev(4, false), kv("/registry/secrets/b", "gone", 4)),
            (rev(5, true), kv("/registry/secrets/b", "", 5)),
            (rev(6, false), kv("/registry/configmaps/c", "x", 6)),
        ]);
        let db: Db<[u8]> = Db::open(Box::<[u8]>::from(&file[..])).unwrap();
        let read = |all: bool| {
            let mut got = vec![];
            scan(&db, b"/registry/secrets/", all, &mut |b| {
                got.extend(b.into_iter().map(|r| {
                    (
                        String::from_utf8_lossy(&r.key).into_owned(),
                        String::from_utf8_lossy(&r.value).into_owned(),
                        r.current,
                    )
                }));
                true
            })
            .unwrap();
            got
        };
        let s = |k: &str, v: &str, c: bool| (k.to_string(), v.to_string(), c);
        assert_eq!(read(false), [s("/registry/secrets/a", "v2", true)]);
        assert_eq!(
            read(true),
            [
                s("/registry/secrets/b", "gone", false),
                s("/registry/secrets/a", "v2", true),
                s("/registry/secrets/a", "v1", false),
            ],
            "newest first"
        );
    }

    #[test]
    fn files_with_a_hash_are_checked_and_others_read_as_they_are() {
        let file = build(&[(rev(2, false), kv("/registry/secrets/a", "v", 2))]);
        let dir = std::env::temp_dir().join(format!("ksec-snap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("plain.db");
        std::fs::write(&plain, &file).unwrap();
        assert!(!Snapshot::open(&plain).unwrap().hash_checked());
        let mut hashed = file.clone();
        hashed.extend_from_slice(&ksec_crypto::hash::sha256(&file));
        let good = dir.join("good.db");
        std::fs::write(&good, &hashed).unwrap();
        assert!(Snapshot::open(&good).unwrap().hash_checked());
        let n = hashed.len();
        hashed[n - 1] ^= 1;
        let bad = dir.join("bad.db");
        std::fs::write(&bad, &hashed).unwrap();
        assert!(matches!(
            Snapshot::open(&bad),
            Err(Error::Snapshot {
                problem: SnapshotError::HashMismatch,
                ..
            })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
