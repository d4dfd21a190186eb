//! The client side: calls to a KMS v2 plugin over its unix socket, the way
//! kube-apiserver makes them. For tools that read what a plugin wrapped (an etcd
//! value's encrypted DEK seed, say), for `ksec demo` and for the benchmarks.
//!
//! [`Client`] covers the v2 API with plain types and this crate's [`Error`];
//! [`connect`] gives the raw tonic channel for the generated stubs in
//! [`crate::proto`] (v1beta1 too).
use crate::proto::v2::key_management_service_client::KeyManagementServiceClient;
use crate::proto::v2::{DecryptRequest, EncryptRequest, StatusRequest};
use crate::Error;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tonic::transport::{Channel, Endpoint};
use zeroize::Zeroizing;

/// Connects to the plugin at `socket`. The URI is a placeholder: the connector
/// always dials the socket (and `:authority` is `localhost`, as grpc-go sends).
pub async fn connect(socket: &Path) -> Result<Channel, Error> {
    let path: PathBuf = socket.to_path_buf();
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                tokio::net::UnixStream::connect(path)
                    .await
                    .map(TokioIo::new)
            }
        }))
        .await
        .map_err(|source| Error::Connect {
            socket: socket.to_path_buf(),
            source,
        })
}

/// What a v2 plugin says about itself (`Status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginStatus {
    /// The API version it speaks (`v2`).
    pub version: String,
    /// `ok`, or why not.
    pub healthz: String,
    /// The key id Encrypt uses now.
    pub key_id: String,
}

/// What a v2 Encrypt returns: the ciphertext and what kube-apiserver stores next to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wrapped {
    /// The plugin's ciphertext.
    pub ciphertext: Vec<u8>,
    /// The key id that wrapped it.
    pub key_id: String,
    /// The plugin's annotations (kube-apiserver stores and returns them).
    pub annotations: HashMap<String, Vec<u8>>,
}

/// A connection to a KMS v2 plugin.
#[derive(Clone, Debug)]
pub struct Client {
    stub: KeyManagementServiceClient<Channel>,
}

impl Client {
    /// Connects to the plugin at `socket`.
    pub async fn connect(socket: &Path) -> Result<Self, Error> {
        Ok(Self {
            stub: KeyManagementServiceClient::new(connect(socket).await?),
        })
    }

    /// `Status`: the version, health and current key id.
    pub async fn status(&mut self) -> Result<PluginStatus, Error> {
        let r = self
            .stub
            .status(StatusRequest {})
            .await
            .map_err(call("Status"))?
            .into_inner();
        Ok(PluginStatus {
            version: r.version,
            healthz: r.healthz,
            key_id: r.key_id,
        })
    }

    /// `Encrypt`: wraps `plaintext` (kube-apiserver sends a 32-byte seed); `uid`
    /// identifies the call in the plugin's logs.
    pub async fn encrypt(&mut self, plaintext: &[u8], uid: &str) -> Result<Wrapped, Error> {
        let r = self
            .stub
            .encrypt(EncryptRequest {
                plaintext: plaintext.to_vec(),
                uid: uid.into(),
            })
            .await
            .map_err(call("Encrypt"))?
            .into_inner();
        Ok(Wrapped {
            ciphertext: r.ciphertext,
            key_id: r.key_id,
            annotations: r.annotations,
        })
    }

    /// `Decrypt`: unwraps what `Encrypt` returned, under the key id (and
    /// annotations) stored with it. The plaintext is wiped when dropped.
    pub async fn decrypt(
        &mut self,
        wrapped: &Wrapped,
        uid: &str,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let r = self
            .stub
            .decrypt(DecryptRequest {
                ciphertext: wrapped.ciphertext.clone(),
                uid: uid.into(),
                key_id: wrapped.key_id.clone(),
                annotations: wrapped.annotations.clone(),
            })
            .await
            .map_err(call("Decrypt"))?
            .into_inner();
        Ok(Zeroizing::new(r.plaintext))
    }
}

fn call(method: &'static str) -> impl Fn(tonic::Status) -> Error {
    move |s| Error::Call {
        method,
        code: s.code(),
        message: s.message().to_string(),
    }
}
