//! The KMS plugin driven over its unix socket by a gRPC client that is not ours.
#[path = "ksec-kms/plugin.rs"]
mod plugin;
