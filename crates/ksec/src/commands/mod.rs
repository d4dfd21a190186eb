//! One module per command family. Each exposes clap argument types and a `run`.
pub mod completion;
#[cfg(feature = "controller")]
pub mod controller;
pub mod demo;
pub mod encryption_config;
pub mod etcd;
pub mod helm;
pub mod keys;
pub mod kms;
pub mod reseal;
pub mod scan;
pub mod seal;
pub mod sops;
pub mod unseal;
