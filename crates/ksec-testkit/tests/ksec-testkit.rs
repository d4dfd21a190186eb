//! Integration tests of ksec-testkit: the in-memory Kubernetes API behaves like
//! kube-apiserver where ksec relies on it.
#![allow(clippy::unwrap_used)]

#[path = "ksec-testkit/fake_api_tests.rs"]
mod fake_api_tests;
#[path = "ksec-testkit/https_tests.rs"]
mod https_tests;
#[path = "ksec-testkit/kubectl_tests.rs"]
mod kubectl_tests;
