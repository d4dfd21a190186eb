//! Library tests of ksec-helm against real peers: values files that the real `sops`
//! encrypted (helm-secrets' own test assets, for its age and PGP keys) decrypted
//! byte for byte as `sops --decrypt` prints them, bad input, and the `-kubernetes`
//! protocols against ksec-testkit's HTTPS Kubernetes API; wrapper mode's launch
//! (getter, loop guard) with the real Helm 4 and Helm 3.
#![allow(clippy::unwrap_used)]

#[path = "ksec-helm/support.rs"]
mod support;

#[path = "ksec-helm/fixtures.rs"]
mod fixtures;

#[path = "ksec-helm/bad_input.rs"]
mod bad_input;

#[path = "ksec-helm/kubernetes.rs"]
mod kubernetes;

#[path = "ksec-helm/http.rs"]
mod http;

#[path = "ksec-helm/wrapper.rs"]
mod wrapper;
