//! The KMS plugin driven over its unix socket by gRPC clients that are not ours
//! (Python grpcio, and grpc-go as kube-apiserver uses).
#[path = "ksec-kms/backends.rs"]
mod backends;
#[path = "ksec-kms/grpc_go.rs"]
mod grpc_go;
#[path = "ksec-kms/outage.rs"]
mod outage;
#[path = "ksec-kms/plugin.rs"]
mod plugin;
#[path = "ksec-kms/protocol.rs"]
mod protocol;
