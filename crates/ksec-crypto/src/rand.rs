//! Randomness from the operating system, through aws-lc-rs.
//!
//! # Why aws-lc is built without CPU-jitter entropy
//! aws-lc's generator is a DRBG seeded from the OS (`getrandom`) and, by default, also from
//! a CPU-jitter entropy source. That second source takes 30-60 ms to start in every process
//! that draws randomness (upstream aws-lc-rs #922, #1140), and ksec is started once per file
//! by helm-secrets, Flux, Argo CD and scripts: it made a 1 KiB `ksec sops encrypt` cost about
//! 60 ms where the rest of the work takes under 5. The workspace therefore builds aws-lc with
//! `AWS_LC_SYS_NO_JITTER_ENTROPY=1` (`.cargo/config.toml`), so ksec seeds from the kernel's
//! generator alone, as ring, RustCrypto, BoringSSL and Go's `crypto/rand` (in sops and
//! kubeseal) do.
//!
//! What is given up: a second, independent source for the case where the kernel's generator
//! is weak, which on Linux means very early boot before it is seeded (`getrandom` blocks
//! until it is) or a broken VM image. aws-lc keeps its fork and VM-snapshot protections,
//! which do not depend on jitter. A program that embeds `ksec-crypto` and wants the jitter
//! source builds without that variable; [`OS_ENTROPY_ONLY`] says how this build was made.
use crate::{CryptoError, Result, SecretBytes};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// True when aws-lc was built to seed from the OS alone (see the module documentation);
/// set from the build environment of this crate.
pub const OS_ENTROPY_ONLY: bool = match option_env!("AWS_LC_SYS_NO_JITTER_ENTROPY") {
    // aws-lc-sys reads any value that does not start with 0, n, off or f as "on".
    Some(v) => !v.is_empty() && !matches!(v.as_bytes()[0], b'0' | b'n' | b'N' | b'f' | b'F'),
    None => false,
};

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) -> Result<()> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| CryptoError::Random)
}

/// A fresh random secret of `len` bytes (a data key).
pub fn secret(len: usize) -> Result<SecretBytes> {
    let mut s = SecretBytes::new(vec![0u8; len]);
    fill(s.expose_mut())?;
    Ok(s)
}

/// `N` random bytes that are not secret (nonces, serial numbers).
pub fn array<const N: usize>() -> Result<[u8; N]> {
    let mut a = [0u8; N];
    fill(&mut a)?;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workspace's `.cargo/config.toml` must keep the start-up decision in place; if
    /// this fails, every CLI call pays aws-lc's jitter start-up again.
    #[test]
    #[allow(clippy::assertions_on_constants)] // a build setting, checked at run time on purpose
    fn workspace_builds_aws_lc_without_jitter_entropy() {
        assert!(
            OS_ENTROPY_ONLY,
            "AWS_LC_SYS_NO_JITTER_ENTROPY is not set for this build (.cargo/config.toml)"
        );
    }

    #[test]
    fn draws_differ() {
        let a = array::<32>().unwrap();
        let b = array::<32>().unwrap();
        assert_ne!(a, b);
        assert_eq!(secret(48).unwrap().len(), 48);
    }
}
