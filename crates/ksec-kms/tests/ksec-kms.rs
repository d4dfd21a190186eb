//! The KMS plugin driven over its unix socket by a gRPC client that is not ours.
#[path = "ksec-kms/backends.rs"]
mod backends;
#[path = "ksec-kms/outage.rs"]
mod outage;
#[path = "ksec-kms/plugin.rs"]
mod plugin;
#[path = "ksec-kms/protocol.rs"]
mod protocol;
