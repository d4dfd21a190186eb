//! X.509 certificates: reading the sealing certificate a user gives us, and making
//! the self-signed certificate a Sealed Secrets controller publishes.
use crate::rsa::{RsaPrivateKey, RsaPublicKey};
use crate::{pem, CryptoError, Result};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A parsed certificate: the facts ksec needs, and its DER.
#[derive(Clone, Debug)]
pub struct Certificate {
    der: Vec<u8>,
    /// Subject common name, when there is one.
    pub common_name: Option<String>,
    /// Start of validity, in seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, in seconds since the Unix epoch.
    pub not_after: i64,
    /// Serial number, lower-case hex.
    pub serial_hex: String,
    spki_der: Vec<u8>,
    /// The public key algorithm's OID, for messages when it is not RSA.
    pub key_algorithm: String,
}

const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";

impl Certificate {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| CryptoError::Certificate(format!("not a valid X.509 certificate: {e}")))?;
        let validity = cert.validity();
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string);
        let spki = cert.public_key();
        Ok(Self {
            der: der.to_vec(),
            common_name,
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            serial_hex: cert
                .raw_serial()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            spki_der: spki.raw.to_vec(),
            key_algorithm: spki.algorithm.algorithm.to_id_string(),
        })
    }

    /// Parses the first `CERTIFICATE` block of a PEM text (as kubeseal does).
    pub fn from_pem(text: &[u8]) -> Result<Self> {
        let block = pem::parse_all(text)
            .into_iter()
            .find(|b| b.label == "CERTIFICATE")
            .ok_or_else(|| CryptoError::Certificate("no PEM CERTIFICATE block found".into()))?;
        Self::from_der(block.der.expose())
    }

    /// Every `CERTIFICATE` block of a PEM text.
    pub fn all_from_pem(text: &[u8]) -> Result<Vec<Self>> {
        pem::parse_all(text)
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| Self::from_der(b.der.expose()))
            .collect()
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM `CERTIFICATE`.
    pub fn to_pem(&self) -> String {
        pem::encode("CERTIFICATE", &self.der).to_string()
    }

    /// The RSA public key, or an error naming the algorithm found instead.
    pub fn rsa_public_key(&self) -> Result<RsaPublicKey> {
        if self.key_algorithm != RSA_ENCRYPTION_OID {
            return Err(CryptoError::Certificate(format!(
                "expected an RSA public key, but the certificate holds algorithm {}",
                self.key_algorithm
            )));
        }
        RsaPublicKey::from_spki_der(&self.spki_der)
    }

    /// True when `now` is after the end of validity, to the nanosecond, as Go's
    /// `time.Now().After(cert.NotAfter)` in kubeseal (validity is in whole seconds; a
    /// certificate is expired from the first instant after its last second).
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        let secs = unix(now);
        let past_whole_second = now
            .duration_since(UNIX_EPOCH)
            .is_ok_and(|d| d.subsec_nanos() > 0);
        secs > self.not_after || (secs == self.not_after && past_whole_second)
    }
}

fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// Makes the self-signed certificate of a sealing key, shaped like the one Bitnami's
/// controller makes (`signKey` in its keys.go): subject CN only, a random 128-bit
/// serial, CA basic constraints, key usage "encipher only", SHA256-with-RSA.
pub fn self_signed_sealing_cert(
    key: &RsaPrivateKey,
    common_name: &str,
    not_before: SystemTime,
    validity: Duration,
) -> Result<Certificate> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyUsagePurpose, SerialNumber};
    let err =
        |e: rcgen::Error| CryptoError::Certificate(format!("cannot build the certificate: {e}"));
    let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(key.pkcs8_der().expose());
    let signer = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
        .map_err(err)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    // The controller's default --my-cn is empty: then the subject is empty too, as Go writes it.
    if !common_name.is_empty() {
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
    }
    let start = unix(not_before);
    let end = start.saturating_add(validity.as_secs() as i64);
    let at = |s: i64| {
        time::OffsetDateTime::from_unix_timestamp(s)
            .map_err(|_| CryptoError::Certificate(format!("time {s} is out of range")))
    };
    params.not_before = at(start)?;
    params.not_after = at(end)?;
    let mut serial = crate::rand::array::<16>()?;
    serial[0] &= 0x7f; // positive, like Go's rand.Int below 2^128
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::EncipherOnly];
    let cert = params.self_signed(&signer).map_err(err)?;
    Certificate::from_der(cert.der())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_matches_the_key_and_shape() {
        let key = RsaPrivateKey::generate(2048).unwrap();
        let now = SystemTime::now();
        let ten_years = Duration::from_secs(10 * 365 * 24 * 3600);
        let cert = self_signed_sealing_cert(&key, "sealed-secret", now, ten_years).unwrap();
        assert_eq!(cert.common_name.as_deref(), Some("sealed-secret"));
        assert_eq!(cert.not_after - cert.not_before, ten_years.as_secs() as i64);
        assert_eq!(
            cert.rsa_public_key().unwrap().spki_der(),
            key.public_key().spki_der()
        );
        assert!(!cert.is_expired_at(now));
        assert!(cert.is_expired_at(now + ten_years + Duration::from_secs(5)));
        // Expired from the first instant after notAfter, not one second later.
        let end = UNIX_EPOCH + Duration::from_secs(cert.not_after as u64);
        assert!(!cert.is_expired_at(end));
        assert!(cert.is_expired_at(end + Duration::from_millis(1)));
        let again = Certificate::from_pem(cert.to_pem().as_bytes()).unwrap();
        assert_eq!(again.der(), cert.der());
        let (_, parsed) = X509Certificate::from_der(cert.der()).unwrap();
        assert!(parsed.is_ca());
        let ku = parsed.key_usage().unwrap().unwrap().value;
        assert!(ku.encipher_only());
    }

    #[test]
    fn empty_common_name_gives_an_empty_subject() {
        let key = RsaPrivateKey::generate(2048).unwrap();
        let cert =
            self_signed_sealing_cert(&key, "", SystemTime::now(), Duration::from_secs(60)).unwrap();
        assert_eq!(cert.common_name, None);
        let (_, parsed) = X509Certificate::from_der(cert.der()).unwrap();
        assert_eq!(parsed.subject().iter().count(), 0);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(Certificate::from_pem(b"nothing here").is_err());
        assert!(Certificate::from_der(&[0x30, 0x03, 1, 2, 3]).is_err());
    }
}
