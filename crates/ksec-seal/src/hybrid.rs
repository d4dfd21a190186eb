//! The sealed value format of Bitnami Sealed Secrets (`crypto.HybridEncrypt`):
//!
//! ```text
//! u16 big-endian length of the RSA ciphertext
//! ‖ RSA-OAEP(SHA-256, MGF1-SHA-256, label = scope label) of a fresh 32-byte AES key
//! ‖ AES-256-GCM(that key, 12 zero bytes as nonce, no AAD) of the value ‖ 16-byte tag
//! ```
//!
//! The zero nonce is safe because every value gets its own one-time key.
//! In manifests the whole is standard base64.
use crate::error::{Result, ValueProblem};
use ksec_crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use ksec_crypto::{aead, rand, SecretBytes};

const SESSION_KEY_LEN: usize = 32;
const ZERO_NONCE: [u8; aead::NONCE_LEN] = [0; aead::NONCE_LEN];

/// Seals `plaintext` for `public` under `label`.
pub fn seal(public: &RsaPublicKey, plaintext: &[u8], label: &[u8]) -> Result<Vec<u8>> {
    let session = rand::secret(SESSION_KEY_LEN).map_err(ValueProblem::Seal)?;
    let rsa = public
        .encrypt_oaep_sha256(session.expose(), label)
        .map_err(ValueProblem::Seal)?;
    let sym =
        aead::seal(session.expose(), &ZERO_NONCE, b"", plaintext).map_err(ValueProblem::Seal)?;
    let mut out = Vec::with_capacity(2 + rsa.len() + sym.len());
    out.extend_from_slice(&(rsa.len() as u16).to_be_bytes());
    out.extend_from_slice(&rsa);
    out.extend_from_slice(&sym);
    Ok(out)
}

/// Splits a sealed value into its RSA and AES parts.
fn split(sealed: &[u8]) -> Result<(&[u8], &[u8]), ValueProblem> {
    if sealed.len() < 2 {
        return Err(ValueProblem::Truncated(sealed.len()));
    }
    let rsa_len = u16::from_be_bytes([sealed[0], sealed[1]]) as usize;
    let rest = &sealed[2..];
    if rest.len() < rsa_len + aead::TAG_LEN {
        return Err(ValueProblem::Truncated(sealed.len()));
    }
    Ok(rest.split_at(rsa_len))
}

/// Opens a sealed value with `key` under `label`.
pub fn open(key: &RsaPrivateKey, sealed: &[u8], label: &[u8]) -> Result<SecretBytes> {
    Ok(open_value(key, sealed, label)?)
}

fn open_value(
    key: &RsaPrivateKey,
    sealed: &[u8],
    label: &[u8],
) -> Result<SecretBytes, ValueProblem> {
    let (rsa, sym) = split(sealed)?;
    let session = key
        .decrypt_oaep_sha256(rsa, label)
        .map_err(|_| ValueProblem::WrongKeyOrLabel)?;
    if session.len() != SESSION_KEY_LEN {
        return Err(ValueProblem::Tampered);
    }
    aead::open(session.expose(), &ZERO_NONCE, b"", sym).map_err(|_| ValueProblem::Tampered)
}

/// Opens a sealed value with the first of `keys` that can; returns the plaintext and
/// the index of that key. Keys whose modulus does not match the RSA part's length are
/// skipped without a private-key operation.
pub fn open_with_any(
    keys: &[&RsaPrivateKey],
    sealed: &[u8],
    label: &[u8],
) -> Result<(SecretBytes, usize)> {
    let (rsa, _) = split(sealed)?;
    let mut last = ValueProblem::WrongKeyOrLabel;
    for (i, k) in keys.iter().enumerate() {
        if k.public_key().ciphertext_len() != rsa.len() {
            continue;
        }
        match open_value(k, sealed, label) {
            Ok(p) => return Ok((p, i)),
            Err(e @ ValueProblem::Tampered) => last = e,
            Err(_) => {}
        }
    }
    Err(last.into())
}

/// Standard base64 of a sealed value, as it appears in `encryptedData`.
pub fn to_base64(sealed: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(sealed)
}

/// Decodes the standard base64 of a sealed value.
pub fn from_base64(text: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| ValueProblem::Base64(e.to_string()))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_keys::{key_a, key_b};
    use crate::Error;
    use proptest::prelude::*;

    const WRONG_KEY_OR_LABEL: Error = Error::SealedValue(ValueProblem::WrongKeyOrLabel);
    const TAMPERED: Error = Error::SealedValue(ValueProblem::Tampered);

    #[test]
    fn layout_matches_the_format() {
        let k = key_a();
        let sealed = seal(k.public_key(), b"hello", b"ns/name").unwrap();
        let rsa_len = u16::from_be_bytes([sealed[0], sealed[1]]) as usize;
        assert_eq!(rsa_len, k.public_key().ciphertext_len());
        assert_eq!(sealed.len(), 2 + rsa_len + 5 + 16);
        assert_eq!(open(k, &sealed, b"ns/name").unwrap().expose(), b"hello");
    }

    #[test]
    fn tamper_truncation_label_and_key_are_refused() {
        let k = key_a();
        let sealed = seal(k.public_key(), b"secret value", b"ns/name").unwrap();
        assert_eq!(
            open(k, &sealed, b"ns/other").unwrap_err(),
            WRONG_KEY_OR_LABEL
        );
        assert_eq!(
            open(key_b(), &sealed, b"ns/name").unwrap_err(),
            WRONG_KEY_OR_LABEL
        );
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(open(k, &flipped, b"ns/name").unwrap_err(), TAMPERED);
        let mut flipped_rsa = sealed.clone();
        flipped_rsa[40] ^= 1;
        assert_eq!(
            open(k, &flipped_rsa, b"ns/name").unwrap_err(),
            WRONG_KEY_OR_LABEL
        );
        for cut in [0, 1, 2, 100, sealed.len() - 17] {
            assert!(
                matches!(
                    open(k, &sealed[..cut], b"ns/name"),
                    Err(Error::SealedValue(ValueProblem::Truncated(_)))
                ),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn any_key_reports_which_key_opened() {
        let sealed = seal(key_b().public_key(), b"v", b"").unwrap();
        let (p, idx) = open_with_any(&[key_a(), key_b()], &sealed, b"").unwrap();
        assert_eq!((p.expose(), idx), (&b"v"[..], 1));
        assert_eq!(
            open_with_any(&[key_a()], &sealed, b"").unwrap_err(),
            WRONG_KEY_OR_LABEL
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn round_trip_any_value_and_label(value in proptest::collection::vec(any::<u8>(), 0..2048),
                                          label in "[a-z0-9/-]{0,40}") {
            let k = key_a();
            let sealed = seal(k.public_key(), &value, label.as_bytes()).unwrap();
            let back = from_base64(&to_base64(&sealed)).unwrap();
            let opened = open(k, &back, label.as_bytes()).unwrap();
            prop_assert_eq!(opened.expose(), &value[..]);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = open(key_a(), &data, b"x");
        }
    }
}
