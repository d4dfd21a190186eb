//! Integration tests of ksec-scan. One test binary for the crate; modules by theme.
#![allow(clippy::unwrap_used)]

#[path = "ksec-scan/conformance.rs"]
mod conformance;
#[path = "ksec-scan/inputs.rs"]
mod inputs;
#[path = "ksec-scan/properties.rs"]
mod properties;
