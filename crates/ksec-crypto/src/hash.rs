//! Digests and key derivation.
use crate::{CryptoError, Result, SecretBytes};
use aws_lc_rs::{digest, hkdf};

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Incremental SHA-256 (an etcd snapshot's trailing checksum covers the whole database file).
pub struct Sha256(digest::Context);

impl Default for Sha256 {
    fn default() -> Self {
        Self(digest::Context::new(&digest::SHA256))
    }
}

impl Sha256 {
    /// A new hash.
    pub fn new() -> Self {
        Self::default()
    }
    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The 32-byte digest.
    pub fn finish(self) -> [u8; 32] {
        let d = self.0.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }
}

/// Incremental SHA-512 (the SOPS MAC hashes every plaintext leaf in document order).
pub struct Sha512(digest::Context);

impl Default for Sha512 {
    fn default() -> Self {
        Self(digest::Context::new(&digest::SHA512))
    }
}

impl Sha512 {
    /// A new hash.
    pub fn new() -> Self {
        Self::default()
    }
    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The 64-byte digest.
    pub fn finish(self) -> [u8; 64] {
        let d = self.0.finish();
        let mut out = [0u8; 64];
        out.copy_from_slice(d.as_ref());
        out
    }
}

/// HKDF-SHA256 (RFC 5869): extract with `salt`, expand with `info` to `len` bytes.
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], len: usize) -> Result<SecretBytes> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info];
    let okm = prk
        .expand(&info, Len(len))
        .map_err(|_| CryptoError::InvalidKey(format!("HKDF cannot produce {len} bytes")))?;
    let mut out = SecretBytes::new(vec![0u8; len]);
    okm.fill(out.expose_mut())
        .map_err(|_| CryptoError::InvalidKey(format!("HKDF cannot produce {len} bytes")))?;
    Ok(out)
}

/// HKDF-SHA256 *expand only* (RFC 5869 step 2): `prk` is used as the pseudorandom key as
/// is, without an extract step. kube-apiserver derives a KMS v2 per-write key this way
/// from its seed (`hkdf.Expand(sha256.New, seed, info)`).
pub fn hkdf_sha256_expand(prk: &[u8], info: &[u8], len: usize) -> Result<SecretBytes> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, prk);
    let info = [info];
    let err = || CryptoError::InvalidKey(format!("HKDF cannot produce {len} bytes"));
    let okm = prk.expand(&info, Len(len)).map_err(|_| err())?;
    let mut out = SecretBytes::new(vec![0u8; len]);
    okm.fill(out.expose_mut()).map_err(|_| err())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sha512_incremental_matches_known_answer() {
        let mut h = Sha512::new();
        h.update(b"a");
        h.update(b"bc");
        assert!(hex(&h.finish()).starts_with("ddaf35a193617aba"));
    }

    #[test]
    fn hkdf_rfc5869_case_1() {
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0u8..=0x0c).collect();
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        let okm = hkdf_sha256(&ikm, &salt, &info, 42).unwrap();
        assert_eq!(
            hex(okm.expose()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn hkdf_expand_only_matches_rfc5869_case_1_from_its_prk() {
        let prk = [
            0x07, 0x77, 0x09, 0x36, 0x2c, 0x2e, 0x32, 0xdf, 0x0d, 0xdc, 0x3f, 0x0d, 0xc4, 0x7b,
            0xba, 0x63, 0x90, 0xb6, 0xc7, 0x3b, 0xb5, 0x0f, 0x9c, 0x31, 0x22, 0xec, 0x84, 0x4a,
            0xd7, 0xc2, 0xb3, 0xe5,
        ];
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        let okm = hkdf_sha256_expand(&prk, &info, 42).unwrap();
        assert_eq!(
            hex(okm.expose()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn sha256_incremental_matches_one_shot() {
        let mut h = Sha256::new();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finish(), sha256(b"abc"));
    }
}
