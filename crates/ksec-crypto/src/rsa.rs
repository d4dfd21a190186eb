//! RSA keys and RSA-OAEP (SHA-256, MGF1-SHA-256) with a label, through aws-lc-rs.
//!
//! aws-lc-rs decrypts in constant time; the `rsa` crate (RUSTSEC-2023-0071) must never
//! decrypt on ksec's behalf. Keys load from PKCS#1 (`RSA PRIVATE KEY`, what Bitnami's
//! controller writes) or PKCS#8 (`PRIVATE KEY`) PEM, and are written as PKCS#1.
use crate::{der, pem, CryptoError, Result, SecretBytes};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeyPair, KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey, OAEP_SHA256_MGF1SHA256,
};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use zeroize::Zeroizing;

/// An RSA public key that can encrypt with OAEP-SHA256.
#[derive(Clone)]
pub struct RsaPublicKey {
    oaep: std::sync::Arc<OaepPublicEncryptingKey>,
    spki_der: Vec<u8>,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RsaPublicKey({} bits, {})",
            self.bits(),
            self.ssh_fingerprint()
        )
    }
}

impl RsaPublicKey {
    /// Parses an X.509 `SubjectPublicKeyInfo` (DER).
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let public = PublicEncryptingKey::from_der(der).map_err(|e| {
            CryptoError::InvalidKey(format!("not an RSA public key accepted by aws-lc: {e}"))
        })?;
        let (modulus, exponent) = spki_components(der)
            .ok_or_else(|| CryptoError::InvalidKey("malformed RSA SubjectPublicKeyInfo".into()))?;
        let oaep = OaepPublicEncryptingKey::new(public)
            .map_err(|_| CryptoError::InvalidKey("RSA key unusable for OAEP".into()))?;
        Ok(Self {
            oaep: std::sync::Arc::new(oaep),
            spki_der: der.to_vec(),
            modulus,
            exponent,
        })
    }

    /// RSA-OAEP encryption with SHA-256 and MGF1-SHA-256 under `label`.
    pub fn encrypt_oaep_sha256(&self, plaintext: &[u8], label: &[u8]) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.oaep.ciphertext_size()];
        let n = self
            .oaep
            .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, Some(label))
            .map_err(|_| CryptoError::Encrypt("RSA-OAEP: plaintext too long for this key"))?
            .len();
        out.truncate(n);
        Ok(out)
    }

    /// Key size in bits.
    pub fn bits(&self) -> usize {
        self.oaep.key_size_bits()
    }

    /// Size of an RSA ciphertext (the modulus length) in bytes.
    pub fn ciphertext_len(&self) -> usize {
        self.oaep.ciphertext_size()
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The OpenSSH SHA-256 fingerprint (`SHA256:…`), as `ssh-keygen -l` and Sealed
    /// Secrets (`crypto.PublicKeyFingerprint`) print it.
    pub fn ssh_fingerprint(&self) -> String {
        let mut wire = vec![];
        ssh_string(b"ssh-rsa", &mut wire);
        ssh_mpint(&self.exponent, &mut wire);
        ssh_mpint(&self.modulus, &mut wire);
        format!(
            "SHA256:{}",
            STANDARD_NO_PAD.encode(crate::hash::sha256(&wire))
        )
    }
}

fn ssh_string(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn ssh_mpint(unsigned_be: &[u8], out: &mut Vec<u8>) {
    let trimmed: &[u8] = {
        let skip = unsigned_be.iter().take_while(|b| **b == 0).count();
        &unsigned_be[skip..]
    };
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v = vec![0u8];
        v.extend_from_slice(trimmed);
        ssh_string(&v, out);
    } else {
        ssh_string(trimmed, out);
    }
}

/// (modulus, exponent) of an RSA SubjectPublicKeyInfo, as unsigned big-endian bytes.
fn spki_components(spki: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let outer = der::read(spki)?; // SEQUENCE
    let alg = der::read(outer.value)?; // AlgorithmIdentifier
    let bits = der::read(alg.rest)?; // BIT STRING
    let (&unused, key) = bits.value.split_first()?;
    if bits.tag != 0x03 || unused != 0 {
        return None;
    }
    let seq = der::read(key)?; // RSAPublicKey SEQUENCE
    let n = der::read(seq.value)?;
    let e = der::read(n.rest)?;
    let strip = |v: &[u8]| {
        v.iter()
            .skip_while(|b| **b == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    Some((strip(n.value), strip(e.value)))
}

/// An RSA private key. It decrypts OAEP in constant time and never prints itself.
pub struct RsaPrivateKey {
    oaep: OaepPrivateDecryptingKey,
    pkcs8: SecretBytes,
    public: RsaPublicKey,
}

impl std::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPrivateKey({:?}, redacted)", self.public)
    }
}

impl Clone for RsaPrivateKey {
    fn clone(&self) -> Self {
        Self::from_pkcs8_der(self.pkcs8.expose()).expect("a key that loaded once loads again")
    }
}

impl RsaPrivateKey {
    /// Generates a key of `bits` (2048, 3072, 4096 or 8192).
    pub fn generate(bits: usize) -> Result<Self> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            other => {
                return Err(CryptoError::InvalidKey(format!(
                    "unsupported RSA key size {other}: use 2048, 3072, 4096 or 8192"
                )))
            }
        };
        let key = PrivateDecryptingKey::generate(size)
            .map_err(|_| CryptoError::InvalidKey("RSA key generation failed".into()))?;
        let pkcs8 = key
            .as_der()
            .map_err(|_| CryptoError::InvalidKey("cannot encode the new key".into()))?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// Loads a PKCS#8 `PrivateKeyInfo` (DER).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let key = PrivateDecryptingKey::from_pkcs8(der).map_err(|e| {
            CryptoError::InvalidKey(format!("not an RSA private key (PKCS#8): {e}"))
        })?;
        let spki = key
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::InvalidKey("cannot encode the public key".into()))?;
        let public = RsaPublicKey::from_spki_der(spki.as_ref())?;
        let oaep = OaepPrivateDecryptingKey::new(key)
            .map_err(|_| CryptoError::InvalidKey("RSA key unusable for OAEP".into()))?;
        Ok(Self {
            oaep,
            pkcs8: SecretBytes::from_slice(der),
            public,
        })
    }

    /// Loads a PKCS#1 `RSAPrivateKey` (DER).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        let pair = KeyPair::from_der(der).map_err(|e| {
            CryptoError::InvalidKey(format!("not an RSA private key (PKCS#1): {e}"))
        })?;
        let pkcs8 = pair
            .as_der()
            .map_err(|_| CryptoError::InvalidKey("cannot re-encode the key as PKCS#8".into()))?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// Loads the first private key block of a PEM text: `RSA PRIVATE KEY` (PKCS#1) or
    /// `PRIVATE KEY` (PKCS#8). Encrypted PEM keys are refused.
    pub fn from_pem(text: &[u8]) -> Result<Self> {
        for block in pem::parse_all(text) {
            if let Some(key) = Self::from_pem_block(&block) {
                return key;
            }
        }
        Err(CryptoError::InvalidKey(
            "no PEM private key block (RSA PRIVATE KEY or PRIVATE KEY) found".into(),
        ))
    }

    /// Loads one parsed PEM block; `None` when the block is not a private key at all
    /// (a certificate, say), an error when it is a private key ksec cannot use.
    pub fn from_pem_block(block: &pem::PemBlock) -> Option<Result<Self>> {
        Some(match block.label.as_str() {
            "RSA PRIVATE KEY" => Self::from_pkcs1_der(block.der.expose()),
            "PRIVATE KEY" => Self::from_pkcs8_der(block.der.expose()),
            "ENCRYPTED PRIVATE KEY" => Err(CryptoError::InvalidKey(
                "the private key is encrypted with a passphrase; decrypt it first (openssl pkey)"
                    .into(),
            )),
            l if l.ends_with("PRIVATE KEY") => Err(CryptoError::InvalidKey(format!(
                "found a {l} block; sealing keys are RSA"
            ))),
            _ => return None,
        })
    }

    /// The PKCS#8 DER encoding (secret).
    pub fn pkcs8_der(&self) -> &SecretBytes {
        &self.pkcs8
    }

    /// The PKCS#1 DER encoding (secret), unwrapped from PKCS#8.
    pub fn pkcs1_der(&self) -> Result<SecretBytes> {
        let bad = || CryptoError::InvalidKey("malformed PKCS#8 structure".into());
        let info = der::read(self.pkcs8.expose()).ok_or_else(bad)?;
        let version = der::read(info.value).ok_or_else(bad)?;
        let alg = der::read(version.rest).ok_or_else(bad)?;
        let key = der::read(alg.rest).ok_or_else(bad)?;
        if key.tag != 0x04 {
            return Err(bad());
        }
        Ok(SecretBytes::from_slice(key.value))
    }

    /// PEM `RSA PRIVATE KEY` (PKCS#1), as Bitnami's controller writes `tls.key`.
    pub fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>> {
        Ok(pem::encode("RSA PRIVATE KEY", self.pkcs1_der()?.expose()))
    }

    /// The public half.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }

    /// RSA-OAEP decryption (SHA-256, MGF1-SHA-256) under `label`, in constant time.
    pub fn decrypt_oaep_sha256(&self, ciphertext: &[u8], label: &[u8]) -> Result<SecretBytes> {
        let mut out = SecretBytes::new(vec![0u8; self.oaep.min_output_size()]);
        let n = self
            .oaep
            .decrypt(
                &OAEP_SHA256_MGF1SHA256,
                ciphertext,
                out.expose_mut(),
                Some(label),
            )
            .map_err(|_| CryptoError::Decrypt)?
            .len();
        out.expose_mut().truncate(n);
        Ok(out)
    }
}

/// Wraps a PKCS#1 `RSAPublicKey` DER into a `SubjectPublicKeyInfo` (rsaEncryption).
pub fn spki_from_pkcs1_public(pkcs1: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { rsaEncryption, NULL }
    const ALG: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0x03];
    der::length(pkcs1.len() + 1, &mut bits);
    bits.push(0);
    bits.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    der::length(ALG.len() + bits.len(), &mut out);
    out.extend_from_slice(&ALG);
    out.extend_from_slice(&bits);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn key() -> &'static RsaPrivateKey {
        static K: OnceLock<RsaPrivateKey> = OnceLock::new();
        K.get_or_init(|| RsaPrivateKey::generate(2048).unwrap())
    }

    #[test]
    fn oaep_round_trip_with_label() {
        let k = key();
        let ct = k
            .public_key()
            .encrypt_oaep_sha256(b"session key", b"ns/name")
            .unwrap();
        assert_eq!(ct.len(), 256);
        assert_eq!(
            k.decrypt_oaep_sha256(&ct, b"ns/name").unwrap().expose(),
            b"session key"
        );
        assert_eq!(
            k.decrypt_oaep_sha256(&ct, b"ns/other").unwrap_err(),
            CryptoError::Decrypt
        );
        let mut bad = ct.clone();
        bad[10] ^= 1;
        assert_eq!(
            k.decrypt_oaep_sha256(&bad, b"ns/name").unwrap_err(),
            CryptoError::Decrypt
        );
    }

    #[test]
    fn pkcs1_pem_round_trip_keeps_the_key() {
        let k = key();
        let pem = k.to_pkcs1_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        let again = RsaPrivateKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(again.public_key().spki_der(), k.public_key().spki_der());
        let pkcs8_pem = pem::encode("PRIVATE KEY", k.pkcs8_der().expose());
        let again8 = RsaPrivateKey::from_pem(pkcs8_pem.as_bytes()).unwrap();
        assert_eq!(
            again8.public_key().ssh_fingerprint(),
            k.public_key().ssh_fingerprint()
        );
    }

    #[test]
    fn wrong_pem_is_explained() {
        let err = RsaPrivateKey::from_pem(
            b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("RSA"), "{err}");
        assert!(RsaPrivateKey::from_pem(b"hello").is_err());
    }

    #[test]
    fn spki_rebuilt_from_pkcs1_public_matches() {
        let k = key();
        let spki = k.public_key().spki_der();
        // The BIT STRING of the SPKI holds the PKCS#1 RSAPublicKey.
        let outer = der::read(spki).unwrap();
        let alg = der::read(outer.value).unwrap();
        let bits = der::read(alg.rest).unwrap();
        assert_eq!(spki_from_pkcs1_public(&bits.value[1..]), spki);
    }

    #[test]
    fn fingerprint_has_openssh_shape() {
        let fp = key().public_key().ssh_fingerprint();
        assert!(fp.starts_with("SHA256:"));
        assert_eq!(fp.len(), 7 + 43);
    }

    #[test]
    fn debug_does_not_leak_private_material() {
        let shown = format!("{:?}", key());
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("BEGIN"));
    }
}
