//! `v1beta1.KeyManagementService` (KMS v1, deprecated upstream but still served by
//! older clusters): Version, Encrypt, Decrypt. v1 has no key id in requests, which
//! is fine: the backends' ciphertexts say which key wrapped them.
use crate::limits::{MAX_CIPHERTEXT, MAX_PLAINTEXT};
use crate::proto::v1beta1::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, VersionRequest,
    VersionResponse,
};
use crate::v2::status_of;
use crate::Plugin;
use ksec_keys::{SecretBytes, WrapContext, WrappedKey};
use tonic::Status;

fn context() -> WrapContext {
    WrapContext::new().with("ksec.dev/kms-api", "v1beta1")
}

fn check_version(v: &str) -> Result<(), Status> {
    if v == "v1beta1" {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "unsupported KMS API version {v:?}; this service is v1beta1"
        )))
    }
}

/// Version: the API version this service speaks, and who we are.
pub(crate) async fn version(_: &Plugin, req: VersionRequest) -> Result<VersionResponse, Status> {
    check_version(&req.version)?;
    Ok(VersionResponse {
        version: "v1beta1".into(),
        runtime_name: "ksec".into(),
        runtime_version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Encrypt: wraps the data key with the current key.
pub(crate) async fn encrypt(
    plugin: &Plugin,
    req: EncryptRequest,
) -> Result<EncryptResponse, Status> {
    check_version(&req.version)?;
    let plain = SecretBytes::new(req.plain);
    if plain.is_empty() || plain.len() > MAX_PLAINTEXT {
        return Err(Status::invalid_argument(format!(
            "plain must be 1..={MAX_PLAINTEXT} bytes, got {}",
            plain.len()
        )));
    }
    let w = plugin
        .backend()
        .wrap(&plain, &context())
        .await
        .map_err(status_of)?;
    Ok(EncryptResponse {
        cipher: w.ciphertext,
    })
}

/// Decrypt: v1 requests carry no key id; the backend's ciphertext names its key.
pub(crate) async fn decrypt(
    plugin: &Plugin,
    req: DecryptRequest,
) -> Result<DecryptResponse, Status> {
    check_version(&req.version)?;
    if req.cipher.is_empty() || req.cipher.len() > MAX_CIPHERTEXT {
        return Err(Status::invalid_argument(format!(
            "cipher must be 1..={MAX_CIPHERTEXT} bytes, got {}",
            req.cipher.len()
        )));
    }
    let backend = plugin.backend();
    let wrapped = WrappedKey {
        key_id: backend.key_id(),
        ciphertext: req.cipher,
    };
    let plain = backend
        .unwrap(&wrapped, &context())
        .await
        .map_err(status_of)?;
    Ok(DecryptResponse {
        plain: plain.into_zeroizing().to_vec(),
    })
}
