//! NaCl `secretbox` (XSalsa20-Poly1305), as kube-apiserver's `secretbox` provider stores
//! values (Go's `golang.org/x/crypto/nacl/secretbox`): a 32-byte key, a 24-byte nonce, and
//! the 16-byte Poly1305 tag *before* the ciphertext. No associated data.
//!
//! From RustCrypto's `crypto_secretbox`: aws-lc-rs has no XSalsa20.
use crate::{CryptoError, Result, SecretBytes};
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;

/// Key length.
pub const KEY_LEN: usize = 32;
/// Nonce length.
pub const NONCE_LEN: usize = 24;
/// Tag length (the tag comes first).
pub const TAG_LEN: usize = 16;

fn cipher(key: &[u8]) -> Result<XSalsa20Poly1305> {
    XSalsa20Poly1305::new_from_slice(key).map_err(|_| {
        CryptoError::InvalidKey(format!(
            "secretbox needs a {KEY_LEN}-byte key, got {} bytes",
            key.len()
        ))
    })
}

/// Opens `tag ‖ ciphertext`.
pub fn open(key: &[u8], nonce: &[u8; NONCE_LEN], boxed: &[u8]) -> Result<SecretBytes> {
    let c = cipher(key)?;
    if boxed.len() < TAG_LEN {
        return Err(CryptoError::Decrypt);
    }
    let (tag, body) = boxed.split_at(TAG_LEN);
    let mut buf = SecretBytes::from_slice(body);
    c.decrypt_in_place_detached(nonce.into(), b"", buf.expose_mut(), tag.into())
        .map_err(|_| CryptoError::Decrypt)?;
    Ok(buf)
}

/// Seals `plaintext`; returns `tag ‖ ciphertext`. The caller guarantees a fresh nonce.
pub fn seal(key: &[u8], nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Result<Vec<u8>> {
    let c = cipher(key)?;
    let mut body = plaintext.to_vec();
    let tag = c
        .encrypt_in_place_detached(nonce.into(), b"", &mut body)
        .map_err(|_| CryptoError::Encrypt("secretbox seal failed"))?;
    let mut out = Vec::with_capacity(TAG_LEN + body.len());
    out.extend_from_slice(&tag);
    out.extend_from_slice(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The NaCl test vector (`tests/secretbox.c` in NaCl; also in Go's x/crypto tests):
    /// first bytes of the box for the 131-byte message.
    #[test]
    fn nacl_vector() {
        let key = hex("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389");
        let nonce: [u8; 24] = hex("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37")
            .try_into()
            .unwrap();
        let msg = hex(
            "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffc\
                       e5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb31\
                       0e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde\
                       048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864\
                       5e0705",
        );
        let boxed = seal(&key, &nonce, &msg).unwrap();
        assert_eq!(
            boxed[..TAG_LEN],
            hex("f3ffc7703f9400e52a7dfb4b3d3305d9")[..],
            "tag first"
        );
        assert_eq!(boxed[TAG_LEN..TAG_LEN + 8], hex("8e993b9f48681273")[..]);
        assert_eq!(open(&key, &nonce, &boxed).unwrap().expose(), &msg[..]);
        let mut bad = boxed.clone();
        bad[20] ^= 1;
        assert_eq!(open(&key, &nonce, &bad), Err(CryptoError::Decrypt));
        assert_eq!(open(&key, &nonce, &boxed[..10]), Err(CryptoError::Decrypt));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
