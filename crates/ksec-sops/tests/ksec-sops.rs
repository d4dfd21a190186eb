//! Integration tests of ksec-sops: fixtures written by the real sops, interop
//! with the real sops/age/gpg binaries, age plugins (with the `test-plugin`
//! feature), bad input, rotate/updatekeys/groups read back by sops, and the
//! files of a folder as the real git lists them.
#![allow(clippy::unwrap_used)]
#[path = "ksec_sops/aliasing.rs"]
mod aliasing;
#[path = "ksec_sops/bad_input.rs"]
mod bad_input;
#[path = "ksec_sops/batch.rs"]
mod batch;
#[path = "ksec_sops/fixtures.rs"]
mod fixtures;
#[path = "ksec_sops/interop.rs"]
mod interop;
#[cfg(feature = "test-plugin")]
#[path = "ksec_sops/plugin.rs"]
mod plugin;
#[path = "ksec_sops/rekey.rs"]
mod rekey;
#[path = "ksec_sops/remote.rs"]
mod remote;
#[path = "ksec_sops/roundtrip.rs"]
mod roundtrip;
#[path = "ksec_sops/sans_io.rs"]
mod sans_io;
#[path = "ksec_sops/support.rs"]
mod support;
