//! `v2.KeyManagementService`: Status, Encrypt, Decrypt.
use crate::limits::{MAX_CIPHERTEXT, MAX_KEY_ID};
use crate::proto::v2::key_management_service_server::KeyManagementService;
use crate::proto::v2::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, StatusRequest, StatusResponse,
};
use crate::Plugin;
use ksec_keys::{KeyError, KeyId, SecretBytes, WrapContext, WrappedKey};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The wrap context of v2 seeds: a v1beta1 ciphertext is not a v2 one.
pub(crate) fn context() -> WrapContext {
    WrapContext::new().with("ksec.dev/kms-api", "v2")
}

/// Maps a backend error to the gRPC status the apiserver logs. Messages carry no
/// secret material (the backends' errors never do).
pub(crate) fn status(e: KeyError) -> Status {
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

/// The v2 service over a [`Plugin`].
#[derive(Debug, Clone)]
pub(crate) struct V2(pub(crate) Arc<Plugin>);

impl V2 {
    async fn status_impl(
        &self,
        _: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let healthz = match self.0.health().await {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("unhealthy: {e}"),
        };
        let key_id = self.0.backend().key_id().to_string();
        Ok(Response::new(StatusResponse {
            version: "v2".into(),
            healthz,
            key_id,
        }))
    }

    async fn encrypt_impl(
        &self,
        req: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        let req = req.into_inner();
        let plaintext = SecretBytes::new(req.plaintext);
        crate::limits::check_encrypt(plaintext.len(), &req.uid)?;
        let backend = self.0.backend();
        let w = backend.wrap(&plaintext, &context()).await.map_err(status)?;
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
        Ok(Response::new(EncryptResponse {
            ciphertext: w.ciphertext,
            key_id,
            annotations: Default::default(),
        }))
    }

    async fn decrypt_impl(
        &self,
        req: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        let req = req.into_inner();
        crate::limits::check_decrypt(&req)?;
        let wrapped = WrappedKey {
            key_id: KeyId::new(req.key_id),
            ciphertext: req.ciphertext,
        };
        let plain = self
            .0
            .backend()
            .unwrap(&wrapped, &context())
            .await
            .map_err(status)?;
        Ok(Response::new(DecryptResponse {
            plaintext: plain.into_zeroizing().to_vec(),
        }))
    }
}

#[tonic::async_trait]
impl KeyManagementService for V2 {
    async fn status(
        &self,
        req: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        crate::timed(&self.0, "v2", "status", self.status_impl(req)).await
    }
    async fn encrypt(
        &self,
        req: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        crate::timed(&self.0, "v2", "encrypt", self.encrypt_impl(req)).await
    }
    async fn decrypt(
        &self,
        req: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        crate::timed(&self.0, "v2", "decrypt", self.decrypt_impl(req)).await
    }
}
