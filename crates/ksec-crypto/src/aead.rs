//! AES-256-GCM, in the two nonce sizes ksec meets.
//!
//! * 12-byte nonces (Sealed Secrets with a zero nonce and a one-time key, the local
//!   key backend, kube-apiserver's KMS v2 values) go through aws-lc-rs.
//! * 32-byte nonces are what SOPS writes (Go's `cipher.NewGCMWithNonceSize(block, 32)`);
//!   aws-lc-rs only does 12, so these use RustCrypto's `aes-gcm` with a generic nonce
//!   size. GHASH turns a long nonce into the initial counter exactly as Go does.
use crate::{CryptoError, Result, SecretBytes};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

/// Key length of AES-256 in bytes.
pub const KEY_LEN: usize = 32;
/// Length of the GCM authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;
/// The standard GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// The nonce length SOPS uses.
pub const SOPS_NONCE_LEN: usize = 32;

fn key(k: &[u8]) -> Result<LessSafeKey> {
    if k.len() != KEY_LEN {
        return Err(CryptoError::InvalidKey(format!(
            "AES-256-GCM needs a {KEY_LEN}-byte key, got {} bytes",
            k.len()
        )));
    }
    let unbound = UnboundKey::new(&AES_256_GCM, k)
        .map_err(|_| CryptoError::InvalidKey("AES-256-GCM key rejected".into()))?;
    Ok(LessSafeKey::new(unbound))
}

/// Encrypts `plaintext` with a 12-byte nonce; returns `ciphertext ‖ tag`.
///
/// The caller guarantees that (`key`, `nonce`) is never reused.
pub fn seal(
    key_bytes: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    seal_with(&key(key_bytes)?, nonce, aad, plaintext)
}

/// Decrypts `ciphertext ‖ tag` sealed with a 12-byte nonce.
pub fn open(
    key_bytes: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<SecretBytes> {
    open_with(&key(key_bytes)?, nonce, aad, ciphertext)
}

type Aes256Gcm32 = aes_gcm::AesGcm<aes_gcm::aes::Aes256, aes_gcm::aead::consts::U32>;

fn wide_key(k: &[u8]) -> Result<Aes256Gcm32> {
    Aes256Gcm32::new_from_slice(k).map_err(|_| {
        CryptoError::InvalidKey(format!(
            "AES-256-GCM needs a {KEY_LEN}-byte key, got {} bytes",
            k.len()
        ))
    })
}

/// Encrypts with a 32-byte nonce (the SOPS value cipher); returns `(ciphertext, tag)`.
pub fn seal_wide(
    key_bytes: &[u8],
    nonce: &[u8; SOPS_NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, [u8; TAG_LEN])> {
    let cipher = wide_key(key_bytes)?;
    let mut buf = plaintext.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(nonce.into(), aad, &mut buf)
        .map_err(|_| CryptoError::Encrypt("AES-GCM seal failed"))?;
    Ok((buf, tag.into()))
}

/// Decrypts a 32-byte-nonce AES-GCM value with its detached tag.
pub fn open_wide(
    key_bytes: &[u8],
    nonce: &[u8; SOPS_NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8; TAG_LEN],
) -> Result<SecretBytes> {
    let cipher = wide_key(key_bytes)?;
    let mut buf = SecretBytes::from_slice(ciphertext);
    cipher
        .decrypt_in_place_detached(nonce.into(), aad, buf.expose_mut(), tag.into())
        .map_err(|_| CryptoError::Decrypt)?;
    Ok(buf)
}

/// AES-GCM with a 12-byte nonce and any AES key size (16, 24 or 32 bytes), as
/// kube-apiserver's `aesgcm` provider takes its keys; returns `ciphertext ‖ tag`.
pub fn seal_any(
    key_bytes: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    seal_with(&any_key(key_bytes)?, nonce, aad, plaintext)
}

/// Decrypts `ciphertext ‖ tag` sealed by [`seal_any`] (AES-128/192/256-GCM, 12-byte nonce).
pub fn open_any(
    key_bytes: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<SecretBytes> {
    open_with(&any_key(key_bytes)?, nonce, aad, ciphertext)
}

fn any_key(k: &[u8]) -> Result<LessSafeKey> {
    let alg = match k.len() {
        16 => &aws_lc_rs::aead::AES_128_GCM,
        24 => &aws_lc_rs::aead::AES_192_GCM,
        32 => &AES_256_GCM,
        n => {
            return Err(CryptoError::InvalidKey(format!(
                "AES-GCM needs a 16, 24 or 32-byte key, got {n} bytes"
            )))
        }
    };
    let unbound = UnboundKey::new(alg, k)
        .map_err(|_| CryptoError::InvalidKey("AES-GCM key rejected".into()))?;
    Ok(LessSafeKey::new(unbound))
}

/// Seals with a 12-byte nonce under `k` (any AES size): `ciphertext ‖ tag`.
fn seal_with(
    k: &LessSafeKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
    buf.extend_from_slice(plaintext);
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(*nonce),
        Aad::from(aad),
        &mut buf,
    )
    .map_err(|_| CryptoError::Encrypt("AES-GCM seal failed"))?;
    Ok(buf)
}

/// Opens `ciphertext ‖ tag` sealed with a 12-byte nonce under `k`.
fn open_with(
    k: &LessSafeKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<SecretBytes> {
    if ciphertext.len() < TAG_LEN {
        return Err(CryptoError::Decrypt);
    }
    let mut buf = SecretBytes::from_slice(ciphertext);
    let n = k
        .open_in_place(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            buf.expose_mut(),
        )
        .map_err(|_| CryptoError::Decrypt)?
        .len();
    buf.expose_mut().truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let k = [7u8; 32];
        let n = [0u8; 12];
        let ct = seal(&k, &n, b"aad", b"hello").unwrap();
        assert_eq!(ct.len(), 5 + TAG_LEN);
        assert_eq!(open(&k, &n, b"aad", &ct).unwrap().expose(), b"hello");
        assert_eq!(open(&k, &n, b"other", &ct), Err(CryptoError::Decrypt));
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert_eq!(open(&k, &n, b"aad", &bad), Err(CryptoError::Decrypt));
        assert_eq!(open(&k, &n, b"aad", &ct[..3]), Err(CryptoError::Decrypt));
    }

    #[test]
    fn wrong_key_length_is_rejected() {
        assert!(matches!(
            seal(&[0u8; 16], &[0; 12], b"", b"x"),
            Err(CryptoError::InvalidKey(_))
        ));
        assert!(matches!(
            seal_wide(&[0u8; 31], &[0; 32], b"", b"x"),
            Err(CryptoError::InvalidKey(_))
        ));
    }

    /// NIST GCM test case 16 (AES-256, 12-byte IV) pins the aws-lc-rs path.
    #[test]
    fn nist_gcm_vector() {
        let key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        let iv: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
        let pt = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let ct = seal(&key, &iv, &aad, &pt).unwrap();
        let (body, tag) = ct.split_at(ct.len() - TAG_LEN);
        assert_eq!(
            hexs(body),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        );
        assert_eq!(hexs(tag), "76fc6ece0f4e1768cddf8853bb2d551b");
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    fn hexs(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn any_key_size_round_trips() {
        for len in [16, 24, 32] {
            let k = vec![3u8; len];
            let ct = seal_any(&k, &[1; 12], b"aad", b"hello").unwrap();
            assert_eq!(
                open_any(&k, &[1; 12], b"aad", &ct).unwrap().expose(),
                b"hello"
            );
            assert_eq!(open_any(&k, &[1; 12], b"x", &ct), Err(CryptoError::Decrypt));
        }
        // The 32-byte form is the same cipher as `seal`.
        assert_eq!(
            seal_any(&[9; 32], &[0; 12], b"", b"x").unwrap(),
            seal(&[9; 32], &[0; 12], b"", b"x").unwrap()
        );
        assert!(matches!(
            open_any(&[0; 20], &[0; 12], b"", &[0; 20]),
            Err(CryptoError::InvalidKey(_))
        ));
    }

    proptest! {
        #[test]
        fn wide_round_trip(key in proptest::array::uniform32(any::<u8>()),
                           nonce in proptest::array::uniform32(any::<u8>()),
                           aad in proptest::collection::vec(any::<u8>(), 0..64),
                           pt in proptest::collection::vec(any::<u8>(), 0..256)) {
            let (ct, tag) = seal_wide(&key, &nonce, &aad, &pt).unwrap();
            prop_assert_eq!(ct.len(), pt.len());
            let back = open_wide(&key, &nonce, &aad, &ct, &tag).unwrap();
            prop_assert_eq!(back.expose(), &pt[..]);
            let mut bad_tag = tag;
            bad_tag[0] ^= 0x80;
            prop_assert!(open_wide(&key, &nonce, &aad, &ct, &bad_tag).is_err());
        }
    }
}
