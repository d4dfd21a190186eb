//! AES-CBC with PKCS#7 padding, as kube-apiserver's `aescbc` provider (and KMS v1 data
//! written before Kubernetes 1.25) stores values: a 16-byte IV, no authentication.
//! Decryption can "succeed" with a wrong key when the garbage happens to end in valid
//! padding, so callers must check what they decrypted.
use crate::{CryptoError, Result, SecretBytes};
use aws_lc_rs::cipher::{
    DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey,
    UnboundCipherKey, AES_128, AES_192, AES_256,
};
use aws_lc_rs::iv::FixedLength;

/// The AES block (and IV) size.
pub const BLOCK_LEN: usize = 16;

fn unbound(key: &[u8]) -> Result<UnboundCipherKey> {
    let alg = match key.len() {
        16 => &AES_128,
        24 => &AES_192,
        32 => &AES_256,
        n => {
            return Err(CryptoError::InvalidKey(format!(
                "AES-CBC needs a 16, 24 or 32-byte key, got {n} bytes"
            )))
        }
    };
    UnboundCipherKey::new(alg, key).map_err(|_| CryptoError::InvalidKey("AES key rejected".into()))
}

/// Decrypts `ciphertext` (a multiple of 16 bytes) and removes its PKCS#7 padding.
pub fn decrypt(key: &[u8], iv: &[u8; BLOCK_LEN], ciphertext: &[u8]) -> Result<SecretBytes> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(BLOCK_LEN) {
        return Err(CryptoError::Decrypt);
    }
    let k = PaddedBlockDecryptingKey::cbc_pkcs7(unbound(key)?)
        .map_err(|_| CryptoError::InvalidKey("AES-CBC key rejected".into()))?;
    let mut buf = SecretBytes::from_slice(ciphertext);
    let ctx = DecryptionContext::Iv128(FixedLength::from(*iv));
    let n = k
        .decrypt(buf.expose_mut(), ctx)
        .map_err(|_| CryptoError::Decrypt)?
        .len();
    buf.expose_mut().truncate(n);
    Ok(buf)
}

/// Pads `plaintext` (PKCS#7) and encrypts it under `iv`; returns the ciphertext only.
/// The caller guarantees a fresh random IV per value.
pub fn encrypt(key: &[u8], iv: &[u8; BLOCK_LEN], plaintext: &[u8]) -> Result<Vec<u8>> {
    let k = PaddedBlockEncryptingKey::cbc_pkcs7(unbound(key)?)
        .map_err(|_| CryptoError::InvalidKey("AES-CBC key rejected".into()))?;
    let mut buf = plaintext.to_vec();
    let ctx = EncryptionContext::Iv128(FixedLength::from(*iv));
    k.less_safe_encrypt(&mut buf, ctx)
        .map_err(|_| CryptoError::Encrypt("AES-CBC encryption failed"))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NIST SP 800-38A F.2.1 (CBC-AES128), first block, then the PKCS#7 padding block.
    #[test]
    fn nist_cbc_vector_and_padding() {
        let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let pt = hex("6bc1bee22e409f96e93d7e117393172a");
        let ct = encrypt(&key, &iv, &pt).unwrap();
        assert_eq!(ct.len(), 32, "a full block of padding follows a full block");
        assert_eq!(
            ct[..16],
            hex("7649abac8119b246cee98e9b12e9197d")[..],
            "the first block is NIST's"
        );
        assert_eq!(decrypt(&key, &iv, &ct).unwrap().expose(), &pt[..]);
    }

    #[test]
    fn every_key_size_round_trips_and_bad_lengths_fail() {
        for len in [16, 24, 32] {
            let key = vec![5u8; len];
            let ct = encrypt(&key, &[7; 16], b"k8s\0hello").unwrap();
            assert_eq!(
                decrypt(&key, &[7; 16], &ct).unwrap().expose(),
                b"k8s\0hello"
            );
            assert_eq!(
                decrypt(&key, &[7; 16], &ct[..15]),
                Err(CryptoError::Decrypt)
            );
            assert_eq!(decrypt(&key, &[7; 16], &[]), Err(CryptoError::Decrypt));
        }
        assert!(matches!(
            decrypt(&[0; 8], &[0; 16], &[0; 16]),
            Err(CryptoError::InvalidKey(_))
        ));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
