//! `v2.KeyManagementService`: Status, Encrypt, Decrypt.
use crate::limits::{MAX_CIPHERTEXT, MAX_KEY_ID};
use crate::proto::v2::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, StatusRequest, StatusResponse,
};
use crate::Plugin;
use ksec_keys::{KeyError, KeyId, SecretBytes, WrapContext, WrappedKey};
use tonic::Status;

/// The wrap context of v2 seeds: a v1beta1 ciphertext is not a v2 one.
pub(crate) fn context() -> WrapContext {
    WrapContext::new().with("ksec.dev/kms-api", "v2")
}

/// Maps a backend error to the gRPC status the apiserver logs. Messages carry no
/// secret material (the backends' errors never do).
pub(crate) fn status_of(e: KeyError) -> Status {
    let msg = e.to_string();
    match e {
        KeyError::Unwrap { .. } => Status::invalid_argument(msg),
        KeyError::Auth { .. } => Status::permission_denied(msg),
        KeyError::Key { .. } | KeyError::Config { .. } | KeyError::KeyFile { .. } => {
            Status::failed_precondition(msg)
        }
        KeyError::Timeout { .. } => Status::deadline_exceeded(msg),
        e if e.is_transient() => Status::unavailable(msg),
        _ => Status::internal(msg),
    }
}

/// Status: `healthz` is `ok` only when the backend wrapped and unwrapped (cached).
pub(crate) async fn status(plugin: &Plugin, _: StatusRequest) -> Result<StatusResponse, Status> {
    let healthz = match plugin.health().await {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("unhealthy: {e}"),
    };
    Ok(StatusResponse {
        version: "v2".into(),
        healthz,
        key_id: plugin.backend().key_id().to_string(),
    })
}

/// Encrypt: wraps the seed with the current key. The request is already checked
/// ([`crate::limits::parse_encrypt_request`]); the answer is checked against the
/// apiserver's limits so a misbehaving backend gets a clear plugin error.
pub(crate) async fn encrypt(
    plugin: &Plugin,
    req: EncryptRequest,
) -> Result<EncryptResponse, Status> {
    let plaintext = SecretBytes::new(req.plaintext);
    let backend = plugin.backend();
    let w = backend
        .wrap(&plaintext, &context())
        .await
        .map_err(status_of)?;
    if w.ciphertext.len() > MAX_CIPHERTEXT {
        return Err(Status::internal(format!(
            "the {} backend produced a {}-byte ciphertext; kube-apiserver accepts at most {MAX_CIPHERTEXT}",
            backend.kind(),
            w.ciphertext.len()
        )));
    }
    let key_id = w.key_id.to_string();
    if key_id.is_empty() || key_id.len() > MAX_KEY_ID {
        return Err(Status::internal(format!(
            "the {} backend's key id is {} bytes; kube-apiserver needs 1..={MAX_KEY_ID}",
            backend.kind(),
            key_id.len()
        )));
    }
    Ok(EncryptResponse {
        ciphertext: w.ciphertext,
        key_id,
        annotations: Default::default(),
    })
}

/// Decrypt: unwraps with the key the request's `key_id` names (older keys too).
/// The request is already checked ([`crate::limits::parse_decrypt_request`]).
pub(crate) async fn decrypt(
    plugin: &Plugin,
    req: DecryptRequest,
) -> Result<DecryptResponse, Status> {
    let wrapped = WrappedKey {
        key_id: KeyId::new(req.key_id),
        ciphertext: req.ciphertext,
    };
    let plain = plugin
        .backend()
        .unwrap(&wrapped, &context())
        .await
        .map_err(status_of)?;
    Ok(DecryptResponse {
        plaintext: plain.into_zeroizing().to_vec(),
    })
}
