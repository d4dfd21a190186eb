//! Randomness from the operating system, through aws-lc-rs.
use crate::{CryptoError, Result, SecretBytes};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

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
