//! Reaching the KMS that wrapped a data key, the two ways `ksec etcd decrypt` offers:
//!
//! - the provider's plugin, through the unix socket of its `endpoint`, as kube-apiserver
//!   does (KMS v2 `Decrypt` with the stored key id and annotations; KMS v1beta1 `Decrypt`);
//! - a ksec key backend ([`ksec_keys::KeyBackend`]) that holds the same key-encryption
//!   key as a `ksec kms serve` plugin, without the plugin (the plugin down, or the control
//!   plane lost). The plugin binds each wrapped key to the API version that asked for it;
//!   the same binding is used here.
use ksec_crypto::SecretBytes;
use ksec_keys::{KeyBackend, KeyId, WrapContext, WrappedKey};
use ksec_kms::proto::{v1beta1, v2};
use std::collections::BTreeMap;
use std::path::PathBuf;
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
        channel: OnceCell<Result<Channel, String>>,
    },
    /// A key backend holding the plugin's key-encryption key.
    Backend(Arc<dyn KeyBackend>),
}

impl KmsConnection {
    pub(crate) fn plugin(endpoint: &str, socket: Option<PathBuf>, timeout: Duration) -> Self {
        KmsConnection::Plugin {
            endpoint: endpoint.to_string(),
            socket,
            timeout,
            channel: OnceCell::new(),
        }
    }

    async fn channel(&self) -> Result<(Channel, Duration), String> {
        let KmsConnection::Plugin {
            endpoint,
            socket,
            timeout,
            channel,
        } = self
        else {
            return Err("not a plugin".into());
        };
        let ch = channel
            .get_or_init(|| async {
                let socket = socket
                    .clone()
                    .ok_or_else(|| format!("endpoint {endpoint:?} is not unix:///path"))?;
                match tokio::time::timeout(*timeout, ksec_kms::connect(&socket)).await {
                    Ok(Ok(c)) => Ok(c),
                    Ok(Err(e)) => Err(format!("cannot reach the plugin at {endpoint}: {e}")),
                    Err(_) => Err(format!(
                        "cannot reach the plugin at {endpoint}: no answer within {timeout:?}"
                    )),
                }
            })
            .await;
        ch.clone().map(|c| (c, *timeout))
    }

    /// KMS v2 `Decrypt`.
    pub(crate) async fn decrypt_v2(
        &self,
        ciphertext: &[u8],
        key_id: &str,
        annotations: &BTreeMap<&str, &[u8]>,
    ) -> Result<SecretBytes, String> {
        if let KmsConnection::Backend(b) = self {
            let w = WrappedKey {
                key_id: KeyId::new(key_id),
                ciphertext: ciphertext.to_vec(),
            };
            return b
                .unwrap(&w, &plugin_context("v2"))
                .await
                .map_err(|e| e.to_string());
        }
        let (ch, timeout) = self.channel().await?;
        let mut client = v2::key_management_service_client::KeyManagementServiceClient::new(ch);
        let req = v2::DecryptRequest {
            ciphertext: ciphertext.to_vec(),
            uid: uid(),
            key_id: key_id.to_string(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
        };
        match tokio::time::timeout(timeout, client.decrypt(req)).await {
            Ok(Ok(r)) => Ok(SecretBytes::new(r.into_inner().plaintext)),
            Ok(Err(s)) => Err(format!(
                "the plugin answered {:?}: {}",
                s.code(),
                s.message()
            )),
            Err(_) => Err(format!("the plugin did not answer within {timeout:?}")),
        }
    }

    /// KMS v1beta1 `Decrypt`.
    pub(crate) async fn decrypt_v1(&self, ciphertext: &[u8]) -> Result<SecretBytes, String> {
        if let KmsConnection::Backend(b) = self {
            let w = WrappedKey {
                key_id: KeyId::new(""),
                ciphertext: ciphertext.to_vec(),
            };
            return b
                .unwrap(&w, &plugin_context("v1beta1"))
                .await
                .map_err(|e| e.to_string());
        }
        let (ch, timeout) = self.channel().await?;
        let mut client =
            v1beta1::key_management_service_client::KeyManagementServiceClient::new(ch);
        let req = v1beta1::DecryptRequest {
            version: "v1beta1".into(),
            cipher: ciphertext.to_vec(),
        };
        match tokio::time::timeout(timeout, client.decrypt(req)).await {
            Ok(Ok(r)) => Ok(SecretBytes::new(r.into_inner().plain)),
            Ok(Err(s)) => Err(format!(
                "the plugin answered {:?}: {}",
                s.code(),
                s.message()
            )),
            Err(_) => Err(format!("the plugin did not answer within {timeout:?}")),
        }
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
