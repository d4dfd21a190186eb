//! ksec-etcd against data it did not write: the values real kube-apiservers stored under
//! KMS v2 (`$KSEC_FIXTURES/kubernetes/kmsv2-legacy`), and a real etcd 3.4 started here
//! (listings, history and `etcdctl snapshot save` files compared with what was written
//! and with `etcdctl get`). The whole at-rest round trip (the independent Python writer,
//! `ksec kms serve`, audit and decrypt) is tested through the binary in `crates/ksec`.
#![allow(clippy::unwrap_used)]

#[path = "ksec-etcd/kms.rs"]
mod kms;
#[path = "ksec-etcd/protos.rs"]
mod protos;
#[path = "ksec-etcd/registry.rs"]
mod registry;
#[path = "ksec-etcd/scope.rs"]
mod scope;
#[path = "ksec-etcd/store.rs"]
mod store;
