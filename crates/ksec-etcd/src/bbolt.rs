//! A bounded reader for bbolt databases, the storage format of etcd's backend (and of
//! `etcdctl snapshot save` files). Read-only, from any positioned byte source, a page at
//! a time: memory holds one root-to-leaf path of pages, never the file.
//!
//! Layout (bbolt `internal/common`, little-endian as written on amd64/arm64):
//! - every page starts with `id u64, flags u16, count u16, overflow u32`; a page and its
//!   `overflow` following pages form one run;
//! - pages 0 and 1 are meta pages: `magic 0xED0CDAED, version 2, pageSize, flags, root
//!   bucket {root pgid, sequence}, freelist, pgid (high-water mark), txid, checksum` (FNV-1a
//!   64 of the 56 bytes before it); the valid one with the higher txid is current;
//! - branch pages hold `pos u32, ksize u32, pgid u64` elements, leaf pages `flags u32,
//!   pos u32, ksize u32, vsize u32`; `pos` counts from the element itself; a leaf element
//!   with flag 1 is a sub-bucket whose value is `{root pgid, sequence}`, followed by the
//!   bucket's own leaf page when it is inline (`root == 0`).
//!
//! Bounds: page ids below the high-water mark and inside the file, runs of at most
//! [`MAX_RUN`] bytes, element ranges inside their page, tree depth at most [`MAX_DEPTH`],
//! and at most as many page visits as the file has pages (a corrupt tree that points
//! at a page twice cannot make the walk explode).
use crate::error::SnapshotError;
use bytes::Bytes;

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const BUCKET_LEAF: u32 = 0x01;
/// Deepest tree accepted (a bbolt tree of a few terabytes is under 10 levels).
pub(crate) const MAX_DEPTH: usize = 64;
/// Longest page run accepted (etcd's largest value is bounded by its request limit,
/// 1.5 MiB by default; this leaves ample room).
pub(crate) const MAX_RUN: usize = 256 * 1024 * 1024;

/// A positioned, read-only byte source.
pub(crate) trait ReadAt {
    /// Its length in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| std::io::ErrorKind::UnexpectedEof)?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// A file with its length fixed at open (a snapshot's trailing hash is excluded).
pub(crate) struct FileSource {
    pub(crate) file: std::fs::File,
    pub(crate) len: u64,
}

impl ReadAt for FileSource {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        if offset.saturating_add(buf.len() as u64) > self.len {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }
}

/// What a walk calls for each leaf element: (key, value, element flags).
pub(crate) type Visit<'a> = dyn FnMut(&[u8], &Bytes, u32) -> Result<(), SnapshotError> + 'a;

/// Where a bucket's tree starts.
#[derive(Clone, Debug)]
pub(crate) enum BucketRoot {
    /// A page id.
    Page(u64),
    /// An inline bucket: its single leaf page, stored in the parent's value.
    Inline(Bytes),
}

/// An open database.
pub(crate) struct Db<S: ?Sized> {
    page_size: u64,
    high_water: u64,
    root: u64,
    src: Box<S>,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn fnv1a64(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

struct Meta {
    page_size: u64,
    root: u64,
    high_water: u64,
    txid: u64,
}

fn parse_meta(page: &[u8]) -> Result<Meta, String> {
    let m = page
        .get(PAGE_HEADER..PAGE_HEADER + 64)
        .ok_or("the file is too short for a meta page")?;
    if le32(m, 0) != MAGIC {
        return Err("bad magic number".into());
    }
    if le32(m, 4) != VERSION {
        return Err(format!("bbolt version {} (expected {VERSION})", le32(m, 4)));
    }
    if fnv1a64(&m[..56]) != le64(m, 56) {
        return Err("meta page checksum mismatch".into());
    }
    let page_size = u64::from(le32(m, 8));
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(format!("implausible page size {page_size}"));
    }
    Ok(Meta {
        page_size,
        root: le64(m, 16),
        high_water: le64(m, 40),
        txid: le64(m, 48),
    })
}

impl<S: ReadAt + ?Sized> Db<S> {
    /// Opens the database: picks the valid meta page with the highest transaction id.
    pub(crate) fn open(src: Box<S>) -> Result<Self, SnapshotError> {
        let not_bolt = |reason: String| SnapshotError::NotBolt { reason };
        let mut first = vec![0u8; PAGE_HEADER + 64];
        src.read_exact_at(&mut first, 0)
            .map_err(|_| not_bolt("the file is shorter than one meta page".into()))?;
        let m0 = parse_meta(&first);
        // The second meta page sits one page further; its size comes from the first
        // valid meta (or the common 4 KiB when page 0 is damaged).
        let ps = m0.as_ref().map(|m| m.page_size).unwrap_or(4096);
        let mut second = vec![0u8; PAGE_HEADER + 64];
        let m1 = src
            .read_exact_at(&mut second, ps)
            .map_err(|e| e.to_string())
            .and_then(|_| parse_meta(&second));
        let meta = match (m0, m1) {
            (Ok(a), Ok(b)) => {
                if b.txid > a.txid {
                    b
                } else {
                    a
                }
            }
            (Ok(a), Err(_)) | (Err(_), Ok(a)) => a,
            (Err(a), Err(b)) => return Err(not_bolt(format!("page 0: {a}; page 1: {b}"))),
        };
        let pages_in_file = src.size() / meta.page_size;
        if meta.high_water > pages_in_file {
            return Err(not_bolt(format!(
                "the database has {} pages but the file holds {pages_in_file}: truncated",
                meta.high_water
            )));
        }
        if meta.root >= meta.high_water || meta.root < 2 {
            return Err(not_bolt(format!("root page {} is out of range", meta.root)));
        }
        Ok(Db {
            page_size: meta.page_size,
            high_water: meta.high_water,
            root: meta.root,
            src,
        })
    }

    /// Reads the run of page `id` (the page and its overflow pages).
    fn page(&self, id: u64) -> Result<Bytes, SnapshotError> {
        let err = |reason: String| SnapshotError::Page { page: id, reason };
        if id < 2 || id >= self.high_water {
            return Err(err(format!(
                "out of range (the database has {} pages)",
                self.high_water
            )));
        }
        let mut head = [0u8; PAGE_HEADER];
        self.src
            .read_exact_at(&mut head, id * self.page_size)
            .map_err(|e| err(e.to_string()))?;
        if le64(&head, 0) != id {
            return Err(err(format!("the page says it is page {}", le64(&head, 0))));
        }
        let overflow = u64::from(le32(&head, 12));
        if id + 1 + overflow > self.high_water {
            return Err(err(format!("{overflow} overflow pages run past the end")));
        }
        let len = (1 + overflow) * self.page_size;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_RUN)
            .ok_or_else(|| err(format!("a run of {len} bytes is larger than accepted")))?;
        let mut buf = vec![0u8; len];
        self.src
            .read_exact_at(&mut buf, id * self.page_size)
            .map_err(|e| err(e.to_string()))?;
        Ok(Bytes::from(buf))
    }

    /// The sub-bucket `name` of the root bucket.
    pub(crate) fn bucket(&self, name: &[u8]) -> Result<Option<BucketRoot>, SnapshotError> {
        let mut found = None;
        let mut budget = self.high_water;
        self.walk(
            BucketRoot::Page(self.root),
            false,
            &mut budget,
            &mut |key, value, flags| {
                if flags & BUCKET_LEAF != 0 && key == name && found.is_none() {
                    found = Some(value.clone());
                }
                Ok(())
            },
        )?;
        let Some(v) = found else { return Ok(None) };
        if v.len() < 16 {
            return Err(SnapshotError::Page {
                page: self.root,
                reason: "a bucket header is shorter than 16 bytes".into(),
            });
        }
        let root = le64(&v, 0);
        Ok(Some(if root == 0 {
            BucketRoot::Inline(v.slice(16..))
        } else {
            BucketRoot::Page(root)
        }))
    }

    /// Calls `f(key, value, flags)` for every leaf element under `root`, in key order,
    /// or from the last key back with `reverse`.
    pub(crate) fn for_each(
        &self,
        root: BucketRoot,
        reverse: bool,
        f: &mut Visit<'_>,
    ) -> Result<(), SnapshotError> {
        let mut budget = self.high_water;
        self.walk(root, reverse, &mut budget, f)
    }

    fn walk(
        &self,
        root: BucketRoot,
        reverse: bool,
        budget: &mut u64,
        f: &mut Visit<'_>,
    ) -> Result<(), SnapshotError> {
        match root {
            BucketRoot::Inline(page) => self.leaf(0, &page, reverse, f),
            BucketRoot::Page(id) => self.descend(id, 0, reverse, budget, f),
        }
    }

    fn descend(
        &self,
        id: u64,
        depth: usize,
        reverse: bool,
        budget: &mut u64,
        f: &mut Visit<'_>,
    ) -> Result<(), SnapshotError> {
        let err = |reason: String| SnapshotError::Page { page: id, reason };
        if depth > MAX_DEPTH {
            return Err(err(format!("the tree is deeper than {MAX_DEPTH} levels")));
        }
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| err("the tree visits more pages than the file has: a cycle".into()))?;
        let page = self.page(id)?;
        match le16(&page, 8) {
            LEAF => self.leaf(id, &page, reverse, f),
            BRANCH => {
                let count = usize::from(le16(&page, 10));
                let end = PAGE_HEADER + count * ELEMENT;
                if end > page.len() {
                    return Err(err(format!("{count} branch elements do not fit")));
                }
                for j in 0..count {
                    let i = if reverse { count - 1 - j } else { j };
                    let child = le64(&page, PAGE_HEADER + i * ELEMENT + 8);
                    self.descend(child, depth + 1, reverse, budget, f)?;
                }
                Ok(())
            }
            other => Err(err(format!("flags {other:#x}: not a branch or leaf page"))),
        }
    }

    fn leaf(
        &self,
        id: u64,
        page: &Bytes,
        reverse: bool,
        f: &mut Visit<'_>,
    ) -> Result<(), SnapshotError> {
        let err = |reason: String| SnapshotError::Page { page: id, reason };
        if page.len() < PAGE_HEADER || le16(page, 8) != LEAF {
            return Err(err("not a leaf page".into()));
        }
        let count = usize::from(le16(page, 10));
        if PAGE_HEADER + count * ELEMENT > page.len() {
            return Err(err(format!("{count} leaf elements do not fit")));
        }
        for j in 0..count {
            let i = if reverse { count - 1 - j } else { j };
            let at = PAGE_HEADER + i * ELEMENT;
            let flags = le32(page, at);
            let (pos, ksize, vsize) = (
                le32(page, at + 4) as usize,
                le32(page, at + 8) as usize,
                le32(page, at + 12) as usize,
            );
            let k0 = at.checked_add(pos);
            let v1 = k0
                .and_then(|k| k.checked_add(ksize))
                .and_then(|v| v.checked_add(vsize));
            let (Some(k0), Some(v1)) = (k0, v1) else {
                return Err(err(format!("element {i} overflows")));
            };
            if v1 > page.len() {
                return Err(err(format!("element {i} runs past its page")));
            }
            let value = page.slice(k0 + ksize..v1);
            f(&page[k0..k0 + ksize], &value, flags)?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const PS: usize = 4096;

    /// Builds a small bbolt file: meta pages 0/1, the root bucket's leaf at page 2 with
    /// one sub-bucket `key`, whose tree is a branch (page 3) over leaves; a value longer
    /// than a page goes to an overflow run. `entries` are (key, value) in key order.
    pub(crate) fn build(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut pages: Vec<Vec<u8>> = vec![vec![0; PS], vec![0; PS]];
        fn header(id: u64, flags: u16, count: u16, overflow: u32) -> Vec<u8> {
            let mut h = id.to_le_bytes().to_vec();
            h.extend_from_slice(&flags.to_le_bytes());
            h.extend_from_slice(&count.to_le_bytes());
            h.extend_from_slice(&overflow.to_le_bytes());
            h
        }
        fn leaf(id: u64, items: &[(&[u8], &[u8], u32)]) -> Vec<u8> {
            let mut p = header(id, LEAF, items.len() as u16, 0);
            let mut data = vec![];
            let n = items.len();
            for (i, (k, v, flags)) in items.iter().enumerate() {
                let elem_at = PAGE_HEADER + i * ELEMENT;
                let pos = PAGE_HEADER + n * ELEMENT + data.len() - elem_at;
                p.extend_from_slice(&flags.to_le_bytes());
                p.extend_from_slice(&(pos as u32).to_le_bytes());
                p.extend_from_slice(&(k.len() as u32).to_le_bytes());
                p.extend_from_slice(&(v.len() as u32).to_le_bytes());
                data.extend_from_slice(k);
                data.extend_from_slice(v);
            }
            p.extend_from_slice(&data);
            let runs = p.len().div_ceil(PS).max(1);
            p[12..16].copy_from_slice(&((runs - 1) as u32).to_le_bytes());
            p.resize(runs * PS, 0);
            p
        }
        // Root bucket leaf at page 2; branch at page 3; leaves from page 4 on.
        pages.push(vec![]);
        pages.push(vec![]);
        let mut children = vec![];
        for chunk in entries.chunks(3) {
            let id = pages.len() as u64;
            let items: Vec<(&[u8], &[u8], u32)> =
                chunk.iter().map(|(k, v)| (&k[..], &v[..], 0)).collect();
            let p = leaf(id, &items);
            children.push((id, chunk[0].0.clone()));
            let runs = p.len() / PS;
            pages.push(p);
            for _ in 1..runs {
                pages.push(vec![]); // the overflow pages live inside the run
            }
        }
        let mut branch = header(3, BRANCH, children.len() as u16, 0);
        let mut keys = vec![];
        for (i, (id, k)) in children.iter().enumerate() {
            let pos =
                PAGE_HEADER + children.len() * ELEMENT + keys.len() - (PAGE_HEADER + i * ELEMENT);
            branch.extend_from_slice(&(pos as u32).to_le_bytes());
            branch.extend_from_slice(&(k.len() as u32).to_le_bytes());
            branch.extend_from_slice(&id.to_le_bytes());
            keys.extend_from_slice(k);
        }
        branch.extend_from_slice(&keys);
        branch.resize(PS, 0);
        pages[3] = branch;
        let mut bucket = 3u64.to_le_bytes().to_vec();
        bucket.extend_from_slice(&0u64.to_le_bytes());
        pages[2] = leaf(
            2,
            &[(b"key", &bucket, BUCKET_LEAF), (b"meta", &[0u8; 16], 0)],
        );
        let mut file: Vec<u8> = pages.concat();
        let high_water = (file.len() / PS) as u64;
        for (id, txid) in [(0u64, 4u64), (1, 5)] {
            let mut m = header(id, 0x04, 0, 0);
            m.extend_from_slice(&MAGIC.to_le_bytes());
            m.extend_from_slice(&VERSION.to_le_bytes());
            m.extend_from_slice(&(PS as u32).to_le_bytes());
            m.extend_from_slice(&0u32.to_le_bytes());
            m.extend_from_slice(&2u64.to_le_bytes()); // root bucket page
            m.extend_from_slice(&0u64.to_le_bytes()); // sequence
            m.extend_from_slice(&u64::MAX.to_le_bytes()); // no freelist
            m.extend_from_slice(&high_water.to_le_bytes());
            m.extend_from_slice(&txid.to_le_bytes());
            let sum = fnv1a64(&m[PAGE_HEADER..PAGE_HEADER + 56]);
            m.extend_from_slice(&sum.to_le_bytes());
            let at = id as usize * PS;
            file[at..at + m.len()].copy_from_slice(&m);
        }
        file
    }

    type Entries = Vec<(Vec<u8>, Vec<u8>)>;

    fn all(file: &[u8]) -> Result<Entries, SnapshotError> {
        let db: Db<[u8]> = Db::open(Box::<[u8]>::from(file))?;
        let root = db.bucket(b"key")?.ok_or(SnapshotError::NoKeyBucket)?;
        let mut out = vec![];
        db.for_each(root.clone(), false, &mut |k, v, _| {
            out.push((k.to_vec(), v.to_vec()));
            Ok(())
        })?;
        let mut back = vec![];
        db.for_each(root, true, &mut |k, v, _| {
            back.push((k.to_vec(), v.to_vec()));
            Ok(())
        })?;
        back.reverse();
        assert_eq!(back, out, "the reverse walk sees the same entries");
        Ok(out)
    }

    #[test]
    fn reads_leaves_under_a_branch_and_overflow_runs() {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = (0u8..7)
            .map(|i| (vec![b'k', i], vec![i; if i == 4 { 3 * PS } else { 10 }]))
            .collect();
        let file = build(&entries);
        assert_eq!(all(&file).unwrap(), entries);
    }

    #[test]
    fn damage_is_reported_not_followed() {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = (0u8..4).map(|i| (vec![i], vec![i])).collect();
        let file = build(&entries);
        // A branch pointing at itself: depth and visit budget stop it.
        let mut cyclic = file.clone();
        let child = PS * 3 + PAGE_HEADER + 8;
        cyclic[child..child + 8].copy_from_slice(&3u64.to_le_bytes());
        assert!(matches!(all(&cyclic), Err(SnapshotError::Page { .. })));
        // A child beyond the high-water mark.
        let mut far = file.clone();
        far[child..child + 8].copy_from_slice(&9999u64.to_le_bytes());
        assert!(all(&far).unwrap_err().to_string().contains("out of range"));
        // A leaf element running past its page.
        let mut long = file.clone();
        long[PS * 4 + PAGE_HEADER + 12..PS * 4 + PAGE_HEADER + 16]
            .copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(all(&long).is_err());
        // Both meta pages broken.
        let mut nometa = file.clone();
        nometa[PAGE_HEADER] ^= 1;
        nometa[PS + PAGE_HEADER] ^= 1;
        assert!(matches!(all(&nometa), Err(SnapshotError::NotBolt { .. })));
        // One broken meta page: the other one serves.
        let mut onemeta = file.clone();
        onemeta[PS + PAGE_HEADER + 20] ^= 1;
        assert_eq!(all(&onemeta).unwrap(), entries);
        // Truncated file.
        assert!(matches!(
            all(&file[..PS * 3]),
            Err(SnapshotError::NotBolt { .. })
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// Whatever bytes are flipped, the reader answers or errs; it never panics or loops.
        #[test]
        fn flipped_bytes_never_panic(flips in proptest::collection::vec((0usize..8 * PS, proptest::prelude::any::<u8>()), 1..8)) {
            let entries: Vec<(Vec<u8>, Vec<u8>)> = (0u8..6).map(|i| (vec![i; 3], vec![i; 40])).collect();
            let mut file = build(&entries);
            for (at, x) in flips {
                if let Some(b) = file.get_mut(at) {
                    *b ^= x;
                }
            }
            let _ = all(&file);
            let _ = crate::snapshot::scan_bytes(&file, b"", true);
        }
    }
}
