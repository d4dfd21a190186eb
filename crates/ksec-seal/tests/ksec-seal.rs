//! Integration tests of ksec-seal's public API. One test binary for the crate (link
//! time); modules by theme.
#![allow(clippy::unwrap_used)]

#[cfg(feature = "cluster")]
#[path = "ksec-seal/cluster.rs"]
mod cluster;
#[path = "ksec-seal/files.rs"]
mod files;
#[path = "ksec-seal/interop.rs"]
mod interop;
#[path = "peers/peers.rs"]
mod peers;
#[path = "ksec-seal/readers.rs"]
mod readers;
