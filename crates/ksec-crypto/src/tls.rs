//! Certificates for TLS: a certificate authority and the server and client certificates
//! it issues, as a Kubernetes API server's PKI has them (a cluster CA; a serving
//! certificate for the server's names and addresses; client certificates whose subject
//! CN is the user and whose O entries are the groups).
//!
//! Keys are ECDSA P-256 with SHA-256 signatures: every TLS stack accepts them (Go's,
//! rustls, OpenSSL) and they are generated in microseconds, where RSA takes tens of
//! milliseconds. Private keys leave this module only as PKCS#8 in a [`SecretBytes`] or a
//! zeroizing PEM string.
//!
//! ```
//! use std::time::Duration;
//! use ksec_crypto::tls::CertificateAuthority;
//!
//! let day = Duration::from_secs(86_400);
//! let ca = CertificateAuthority::generate("test-ca", day).unwrap();
//! let server = ca.issue_server(&["localhost", "127.0.0.1"], day).unwrap();
//! let client = ca.issue_client("alice", Some("system:masters"), day).unwrap();
//! assert_eq!(client.certificate().common_name.as_deref(), Some("alice"));
//! assert!(server.private_key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
//! ```
use std::fmt;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use zeroize::Zeroizing;

use crate::x509::Certificate;
use crate::{pem, CryptoError, Result, SecretBytes};

/// Certificates start an hour in the past, so a peer whose clock is slightly behind
/// still accepts them.
const CLOCK_SKEW: Duration = Duration::from_secs(3600);

/// A certificate authority that issues TLS server and client certificates.
pub struct CertificateAuthority {
    params: CertificateParams,
    key: KeyPair,
    certificate: Certificate,
}

/// A certificate issued by a [`CertificateAuthority`], with its private key.
#[derive(Clone)]
pub struct IssuedCertificate {
    certificate: Certificate,
    key_pkcs8: SecretBytes,
}

fn build_error(e: rcgen::Error) -> CryptoError {
    CryptoError::Certificate(format!("cannot build the certificate: {e}"))
}

fn new_key() -> Result<KeyPair> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(build_error)
}

/// Parameters every issued certificate shares: validity from an hour ago, a random
/// positive 128-bit serial, the subject.
fn base_params(subject: DistinguishedName, validity: Duration) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject;
    let now = SystemTime::now();
    params.not_before = (now - CLOCK_SKEW).into();
    params.not_after = now
        .checked_add(validity)
        .ok_or_else(|| CryptoError::Certificate("the validity is out of range".into()))?
        .into();
    let mut serial = crate::rand::array::<16>()?;
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(params)
}

fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

impl CertificateAuthority {
    /// A new self-signed CA named `common_name`, valid for `validity`.
    pub fn generate(common_name_: &str, validity: Duration) -> Result<Self> {
        let key = new_key()?;
        let mut params = base_params(common_name(common_name_), validity)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(build_error)?;
        let certificate = Certificate::from_der(cert.der())?;
        Ok(Self {
            params,
            key,
            certificate,
        })
    }

    /// The CA's certificate (what clients and servers trust).
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// A serving certificate for `names`: each is a DNS name or an IP address, and the
    /// first is also the subject CN.
    pub fn issue_server(&self, names: &[&str], validity: Duration) -> Result<IssuedCertificate> {
        let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(sans).map_err(build_error)?;
        let base = base_params(common_name(names.first().copied().unwrap_or("")), validity)?;
        params.distinguished_name = base.distinguished_name;
        params.not_before = base.not_before;
        params.not_after = base.not_after;
        params.serial_number = base.serial_number;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    /// A client certificate for user `common_name` in group `organization` (Kubernetes
    /// reads the subject's O as the user's group; rcgen writes at most one O).
    pub fn issue_client(
        &self,
        common_name_: &str,
        organization: Option<&str>,
        validity: Duration,
    ) -> Result<IssuedCertificate> {
        let mut subject = common_name(common_name_);
        if let Some(o) = organization {
            subject.push(DnType::OrganizationName, o);
        }
        let mut params = base_params(subject, validity)?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    fn issue(&self, params: CertificateParams) -> Result<IssuedCertificate> {
        let key = new_key()?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).map_err(build_error)?;
        Ok(IssuedCertificate {
            certificate: Certificate::from_der(cert.der())?,
            key_pkcs8: SecretBytes::from_slice(key.serialized_der()),
        })
    }
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("certificate", &self.certificate.common_name)
            .finish_non_exhaustive()
    }
}

impl IssuedCertificate {
    /// The certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The certificate as PEM.
    pub fn certificate_pem(&self) -> String {
        self.certificate.to_pem()
    }

    /// The private key, PKCS#8 DER.
    pub fn private_key_der(&self) -> &SecretBytes {
        &self.key_pkcs8
    }

    /// The private key as a PEM `PRIVATE KEY` (PKCS#8) block.
    pub fn private_key_pem(&self) -> Zeroizing<String> {
        pem::encode("PRIVATE KEY", self.key_pkcs8.expose())
    }
}

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("certificate", &self.certificate.common_name)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    // The signatures are checked where they matter: the TLS handshakes of ksec-testkit's
    // cluster tests (rustls and kubectl) and ksec-kube's tests.
    fn issued_certificates_name_the_ca_and_carry_their_names() {
        let ca = CertificateAuthority::generate("ksec test CA", DAY).unwrap();
        let (_, ca_x509) = X509Certificate::from_der(ca.certificate().der()).unwrap();
        assert!(ca_x509.is_ca());

        let server = ca.issue_server(&["localhost", "127.0.0.1"], DAY).unwrap();
        let (_, s) = X509Certificate::from_der(server.certificate().der()).unwrap();
        assert_eq!(s.issuer(), ca_x509.subject());
        let sans = s.subject_alternative_name().unwrap().unwrap();
        assert!(sans
            .value
            .general_names
            .iter()
            .any(|n| matches!(n, GeneralName::DNSName("localhost"))));
        assert!(sans
            .value
            .general_names
            .iter()
            .any(|n| matches!(n, GeneralName::IPAddress(ip) if *ip == [127, 0, 0, 1])));
        assert!(s.extended_key_usage().unwrap().unwrap().value.server_auth);

        let client = ca.issue_client("alice", Some("team-a"), DAY).unwrap();
        let (_, c) = X509Certificate::from_der(client.certificate().der()).unwrap();
        assert_eq!(c.issuer(), ca_x509.subject());
        let orgs: Vec<&str> = c
            .subject()
            .iter_organization()
            .map(|o| o.as_str().unwrap())
            .collect();
        assert_eq!(orgs, ["team-a"]);
        assert!(c.extended_key_usage().unwrap().unwrap().value.client_auth);
        assert!(!client.certificate().is_expired_at(SystemTime::now()));
        assert!(client
            .certificate()
            .is_expired_at(SystemTime::now() + DAY + Duration::from_secs(60)));
    }

    #[test]
    fn private_keys_stay_out_of_debug_output() {
        let ca = CertificateAuthority::generate("ca", DAY).unwrap();
        let client = ca.issue_client("bob", None, DAY).unwrap();
        let pem = client.private_key_pem();
        let body = pem.lines().nth(1).unwrap();
        assert!(!format!("{client:?}").contains(body));
        assert!(format!("{client:?}").contains("redacted"));
        assert!(crate::pem::parse_all(pem.as_bytes())[0].der == *client.private_key_der());
    }
}
