//! Integration tests of the controller against an in-memory Kubernetes API (there is no
//! kube-apiserver on these machines; see `fake_api.rs` for what the fake models).

#[path = "ksec-controller/fake_api.rs"]
mod fake_api;
#[path = "ksec-controller/fake_api_tests.rs"]
mod fake_api_tests;
