//! Recovering a store: every value of a [`Scope`] decrypted with a [`Decryptor`] and
//! written out as manifests (disaster recovery, forensics).
//!
//! Secrets, ConfigMaps and objects stored as JSON are written; other protobuf kinds are
//! only named, since only their type is decoded. Values that cannot be decrypted are
//! reported with their etcd key and the others still written.
use crate::decrypt::Decryptor;
use crate::error::{Error, Result, ValueError};
use crate::object::{self, Object};
use crate::source::{ReadObserver, Scope, Source};
use std::io::Write;

/// How recovered objects are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestFormat {
    /// A YAML stream, one document per value, each after a comment naming its etcd key,
    /// revision and storage.
    Yaml,
    /// One JSON `v1` List.
    JsonList,
}

/// A value that is not in the output, and why.
#[derive(Debug)]
#[non_exhaustive]
pub enum Dropped<'a> {
    /// Decrypted, but an object that is not written out.
    NotWritten {
        /// The etcd key.
        key: &'a str,
        /// Its kind, when it is a protobuf object of another kind than Secret and
        /// ConfigMap.
        kind: Option<&'a str>,
    },
    /// The value could not be decrypted, or its plaintext not decoded.
    Failed {
        /// The etcd key.
        key: &'a str,
        /// False for a value only etcd's history keeps.
        current: bool,
        /// Why.
        error: &'a ValueError,
    },
}

/// What a recovery wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Objects written.
    pub decrypted: u64,
    /// Values that could not be decrypted or decoded.
    pub failed: u64,
    /// Objects decrypted but not written out (kinds only named).
    pub not_written: u64,
    /// False when a resource could not be read to its end.
    pub complete: bool,
}

impl RecoveryReport {
    /// True when every value was read and decrypted (objects only named count as
    /// recovered: they were decrypted).
    pub fn all_recovered(&self) -> bool {
        self.failed == 0 && self.complete
    }
}

/// Decrypts every value of `scope` in `source` and writes the objects to `out` in
/// `format`; `dropped` hears each value that is not written, and `observer` the
/// progress and the resources that could not be read. Plaintext goes only to `out`
/// (which the caller should keep private). Fails only when `out` cannot be written.
pub async fn recover(
    decryptor: &Decryptor,
    source: &Source,
    scope: &Scope,
    format: ManifestFormat,
    out: &mut impl Write,
    observer: &mut impl ReadObserver,
    mut dropped: impl FnMut(Dropped<'_>),
) -> Result<RecoveryReport> {
    let yaml = format == ManifestFormat::Yaml;
    let mut report = RecoveryReport::default();
    if !yaml {
        out.write_all(b"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[")
            .map_err(Error::Write)?;
    }
    report.complete = source
        .read_each(scope, observer, async |resource, r| {
            let key = String::from_utf8_lossy(&r.key).into_owned();
            let result = match decryptor.decrypt(resource, &r.key, &r.value).await {
                Ok(d) => object::decode(d.plaintext.expose()).map(|o| (o, d.storage)),
                Err(e) => Err(e),
            };
            let (obj, storage) = match result {
                Ok(found) => found,
                Err(error) => {
                    dropped(Dropped::Failed {
                        key: &key,
                        current: r.current,
                        error: &error,
                    });
                    report.failed += 1;
                    return Ok(());
                }
            };
            let Some(manifest) = obj.manifest(yaml) else {
                let kind = match &obj {
                    Object::Other { kind, .. } => Some(kind.as_str()),
                    _ => None,
                };
                dropped(Dropped::NotWritten { key: &key, kind });
                report.not_written += 1;
                return Ok(());
            };
            if yaml {
                let history = if r.current { "" } else { " (history)" };
                writeln!(
                    out,
                    "---\n# {key} revision {}{history}: {storage}",
                    r.mod_revision
                )?;
            } else if report.decrypted > 0 {
                out.write_all(b",\n")?;
            } else {
                out.write_all(b"\n")?;
            }
            out.write_all(manifest.as_bytes())?;
            report.decrypted += 1;
            Ok(())
        })
        .await
        .map_err(Error::Write)?;
    if !yaml {
        out.write_all(b"\n]}\n").map_err(Error::Write)?;
    }
    out.flush().map_err(Error::Write)?;
    Ok(report)
}
