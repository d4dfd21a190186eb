//! The KMS plugin driven over its unix socket by gRPC clients that are not ours
//! (Python grpcio, and grpc-go as kube-apiserver uses), and run as a process
//! (`Daemon`: reloads, health endpoints, drain).
#![allow(clippy::unwrap_used)]
#[path = "ksec-kms/backends.rs"]
mod backends;
#[path = "ksec-kms/daemon.rs"]
mod daemon;
#[path = "ksec-kms/grpc_go.rs"]
mod grpc_go;
#[path = "ksec-kms/outage.rs"]
mod outage;
#[path = "ksec-kms/plugin.rs"]
mod plugin;
#[path = "ksec-kms/protocol.rs"]
mod protocol;
