//! Integration tests of the controller against an in-memory Kubernetes API (there is no
//! kube-apiserver on these machines; see `ksec_testkit::cluster` for what the fake models).
//! None of this has been run against a live cluster.
#![allow(clippy::unwrap_used, unreachable_pub)]

#[path = "ksec-controller/deploy_tests.rs"]
mod deploy_tests;
#[path = "ksec-controller/harness.rs"]
mod harness;
#[path = "ksec-controller/http_tests.rs"]
mod http_tests;
#[path = "ksec-controller/interop_tests.rs"]
mod interop_tests;
#[path = "ksec-controller/keys_tests.rs"]
mod keys_tests;
#[path = "ksec-controller/leader_tests.rs"]
mod leader_tests;
#[path = "ksec-controller/reconcile_tests.rs"]
mod reconcile_tests;
