//! Library tests of ksec-helm against the real peers: values files encrypted by the
//! real `sops` for keys made by the real `age-keygen` and `gpg`, and the
//! `-kubernetes` protocols against ksec-testkit's HTTPS Kubernetes API.
#![allow(clippy::unwrap_used)]
