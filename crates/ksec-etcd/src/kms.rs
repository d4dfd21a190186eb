//! Reaching the KMS that wrapped a data key, the two ways `ksec etcd decrypt` offers:
//!
//! - the provider's plugin, through the unix socket of its `endpoint`, as kube-apiserver
//!   does (KMS v2 `Decrypt` with the stored key id and annotations, through
//!   [`ksec_kms::Client`]; KMS v1beta1 `Decrypt` through the generated stub);
//! - a ksec key backend ([`ksec_keys::KeyBackend`]) that holds the same key-encryption
//!   key as a `ksec kms serve` plugin, without the plugin (the plugin down, or the control
//!   plane lost). The plugin binds each wrapped key to the API version that asked for it;
//!   the same binding is used here.
use ksec_crypto::SecretBytes;
use ksec_keys::{KeyBackend, KeyId, WrapContext, WrappedKey};
use ksec_kms::proto::v1beta1;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;
use tonic::transport::Channel;

/// The wrap context `ksec kms serve` gives each API version (its `v2::context()` and
/// `v1::context()`): a key wrapped for one version does not unwrap for the other.
/// The integration tests check this against the real plugin.
fn plugin_context(api: &'static str) -> WrapContext {
    WrapContext::new().with("ksec.dev/kms-api", api)
}

/// Where a KMS provider's data keys are unwrapped.
pub(crate) enum KmsConnection {
    /// The plugin's unix socket (connected on first use; a failure is remembered, so a
    /// plugin that is down costs one timeout, not one per object).
    Plugin {
        endpoint: String,
        socket: Option<PathBuf>,
        timeout: Duration,
        /// A v2 provider's typed client (boxed: it is large).
        v2: Box<OnceCell<Result<ksec_kms::Client, String>>>,
        /// A v1 provider's channel, for the v1beta1 stubs.
        v1: OnceCell<Result<Channel, String>>,
    },
    /// A key backend holding the plugin's key-encryption key.
    Backend(Arc<dyn KeyBackend>),
}

/// Connects to a plugin within `timeout`; the error names the endpoint.
async fn reach<T>(
    endpoint: &str,
    socket: &Option<PathBuf>,
    timeout: Duration,
    connect: impl AsyncFnOnce(&Path) -> Result<T, ksec_kms::Error>,
) -> Result<T, String> {
    let socket = socket
        .as_deref()
        .ok_or_else(|| format!("endpoint {endpoint:?} is not unix:///path"))?;
    match tokio::time::timeout(timeout, connect(socket)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!(
            "cannot reach the plugin at {endpoint}: {}",
            crate::etcd::chain(&e)
        )),
        Err(_) => Err(format!(
            "cannot reach the plugin at {endpoint}: no answer within {timeout:?}"
        )),
    }
}

/// A call's result within `timeout`, its failure said in words.
async fn answer<T, E: std::fmt::Display>(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("the plugin did not answer within {timeout:?}")),
    }
}

impl KmsConnection {
    pub(crate) fn plugin(endpoint: &str, socket: Option<PathBuf>, timeout: Duration) -> Self {
        KmsConnection::Plugin {
            endpoint: endpoint.to_string(),
            socket,
            timeout,
            v2: Box::new(OnceCell::new()),
            v1: OnceCell::new(),
        }
    }

    /// KMS v2 `Decrypt`, through [`ksec_kms::Client`].
    pub(crate) async fn decrypt_v2(
        &self,
        ciphertext: &[u8],
        key_id: &str,
        annotations: &BTreeMap<&str, &[u8]>,
    ) -> Result<SecretBytes, String> {
        let (endpoint, socket, timeout, v2) = match self {
            KmsConnection::Backend(b) => {
                let w = WrappedKey {
                    key_id: KeyId::new(key_id),
                    ciphertext: ciphertext.to_vec(),
                };
                return b
                    .unwrap(&w, &plugin_context("v2"))
                    .await
                    .map_err(|e| e.to_string());
            }
            KmsConnection::Plugin {
                endpoint,
                socket,
                timeout,
                v2,
                ..
            } => (endpoint, socket, *timeout, v2),
        };
        let client = v2
            .get_or_init(|| reach(endpoint, socket, timeout, ksec_kms::Client::connect))
            .await
            .clone()?;
        let wrapped = ksec_kms::Wrapped {
            ciphertext: ciphertext.to_vec(),
            key_id: key_id.to_string(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
        };
        let mut client = client;
        let plain = answer(timeout, client.decrypt(&wrapped, &uid())).await?;
        Ok(SecretBytes::from_slice(&plain))
    }

    /// KMS v1beta1 `Decrypt`.
    pub(crate) async fn decrypt_v1(&self, ciphertext: &[u8]) -> Result<SecretBytes, String> {
        let (endpoint, socket, timeout, v1) = match self {
            KmsConnection::Backend(b) => {
                let w = WrappedKey {
                    key_id: KeyId::new(""),
                    ciphertext: ciphertext.to_vec(),
                };
                return b
                    .unwrap(&w, &plugin_context("v1beta1"))
                    .await
                    .map_err(|e| e.to_string());
            }
            KmsConnection::Plugin {
                endpoint,
                socket,
                timeout,
                v1,
                ..
            } => (endpoint, socket, *timeout, v1),
        };
        let channel = v1
            .get_or_init(|| reach(endpoint, socket, timeout, ksec_kms::connect))
            .await
            .clone()?;
        let mut client =
            v1beta1::key_management_service_client::KeyManagementServiceClient::new(channel);
        let req = v1beta1::DecryptRequest {
            version: "v1beta1".into(),
            cipher: ciphertext.to_vec(),
        };
        let r = answer(timeout, async {
            client.decrypt(req).await.map_err(|s| {
                format!(
                    "the KMS plugin's v1beta1 Decrypt failed ({:?}): {}",
                    s.code(),
                    s.message()
                )
            })
        })
        .await?;
        Ok(SecretBytes::new(r.into_inner().plain))
    }
}

/// A request id for the plugin's logs (kube-apiserver sends a UUID; any string will do).
fn uid() -> String {
    let b: [u8; 8] = ksec_crypto::rand::array().unwrap_or_default();
    format!(
        "ksec-etcd-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}
