//! `v1beta1.KeyManagementService` (KMS v1, deprecated upstream but still served by
//! older clusters): Version, Encrypt, Decrypt. v1 has no key id in requests, which
//! is fine: the backends' ciphertexts say which key wrapped them.
use crate::limits::{MAX_CIPHERTEXT, MAX_PLAINTEXT};
use crate::proto::v1beta1::key_management_service_server::KeyManagementService;
use crate::proto::v1beta1::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, VersionRequest,
    VersionResponse,
};
use crate::v2::status;
use crate::Plugin;
use ksec_keys::{SecretBytes, WrapContext, WrappedKey};
use std::sync::Arc;
use tonic::{Request, Response, Status};

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

/// The v1beta1 service over a [`Plugin`].
#[derive(Debug, Clone)]
pub(crate) struct V1(pub(crate) Arc<Plugin>);

impl V1 {
    async fn version_impl(
        &self,
        req: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        check_version(&req.into_inner().version)?;
        Ok(Response::new(VersionResponse {
            version: "v1beta1".into(),
            runtime_name: "ksec".into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
        }))
    }

    async fn encrypt_impl(
        &self,
        req: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        let req = req.into_inner();
        check_version(&req.version)?;
        let plain = SecretBytes::new(req.plain);
        if plain.is_empty() || plain.len() > MAX_PLAINTEXT {
            return Err(Status::invalid_argument(format!(
                "plain must be 1..={MAX_PLAINTEXT} bytes, got {}",
                plain.len()
            )));
        }
        let w = self
            .0
            .backend()
            .wrap(&plain, &context())
            .await
            .map_err(status)?;
        Ok(Response::new(EncryptResponse {
            cipher: w.ciphertext,
        }))
    }

    async fn decrypt_impl(
        &self,
        req: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        let req = req.into_inner();
        check_version(&req.version)?;
        if req.cipher.is_empty() || req.cipher.len() > MAX_CIPHERTEXT {
            return Err(Status::invalid_argument(format!(
                "cipher must be 1..={MAX_CIPHERTEXT} bytes, got {}",
                req.cipher.len()
            )));
        }
        let backend = self.0.backend();
        let wrapped = WrappedKey {
            key_id: backend.key_id(),
            ciphertext: req.cipher,
        };
        let plain = backend.unwrap(&wrapped, &context()).await.map_err(status)?;
        Ok(Response::new(DecryptResponse {
            plain: plain.into_zeroizing().to_vec(),
        }))
    }
}

#[tonic::async_trait]
impl KeyManagementService for V1 {
    async fn version(
        &self,
        req: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        crate::timed(&self.0, "v1beta1", "version", self.version_impl(req)).await
    }
    async fn encrypt(
        &self,
        req: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        crate::timed(&self.0, "v1beta1", "encrypt", self.encrypt_impl(req)).await
    }
    async fn decrypt(
        &self,
        req: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        crate::timed(&self.0, "v1beta1", "decrypt", self.decrypt_impl(req)).await
    }
}
