//! Reading what a URL points at: a local values file (after the path checks of
//! [`Settings`]), an http(s) URL, a key file, or a key in a cluster Secret. Sizes are
//! bounded: values and key files larger than [`MAX_FILE_BYTES`] are refused.
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::url::{SecretKeyRef, Target};
use ksec_sops::Zeroizing;
use std::io::Read;
use std::path::Path;

/// The largest values or key file read (Helm itself reads values into memory too).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a values file or URL; `Ok(None)` when a local file does not exist.
pub(crate) fn fetch(target: &Target, settings: &Settings) -> Result<Option<Vec<u8>>> {
    match target {
        Target::File(p) => {
            settings.check_values_path(p)?;
            read_local(p)
        }
        Target::Http(url) => fetch_http(&settings.request_url(url)?, url).map(Some),
        Target::Literal(t) => Ok(Some(t.as_bytes().to_vec())),
    }
}

/// Reads a local file, bounded; `Ok(None)` when it does not exist.
pub(crate) fn read_local(p: &Path) -> Result<Option<Vec<u8>>> {
    let shown = || p.display().to_string();
    let f = match std::fs::File::open(p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Read {
                file: shown(),
                source,
            })
        }
    };
    let meta = f.metadata().map_err(|source| Error::Read {
        file: shown(),
        source,
    })?;
    if meta.is_dir() {
        return Err(Error::Read {
            file: shown(),
            source: std::io::Error::other("it is a folder, not a file"),
        });
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len().min(MAX_FILE_BYTES)).unwrap_or(0));
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|source| Error::Read {
            file: shown(),
            source,
        })?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::TooLarge {
            file: shown(),
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(Some(buf))
}

/// Reads a key file named by an import URL (its text may be a secret: zeroized).
pub(crate) fn read_key_file(p: &Path) -> Result<Zeroizing<Vec<u8>>> {
    match read_local(p)? {
        Some(b) => Ok(Zeroizing::new(b)),
        None => Err(Error::Missing {
            what: "key file",
            file: p.display().to_string(),
            hint: "",
        }),
    }
}

/// Fetches `request` (the URL with its variables expanded); messages name `url`,
/// the URL as written, and transport errors drop the URL they carry, so that a
/// token in it is never shown.
#[cfg(feature = "http")]
fn fetch_http(request: &str, url: &str) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::Download {
        url: url.to_string(),
        reason,
    };
    // The one TLS provider of the workspace; a second install is refused, harmlessly.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| fail(format!("cannot set up the HTTP client: {e}")))?;
    let resp = client
        .get(request)
        .send()
        .map_err(|e| fail(ksec_text::error_chain(&e.without_url())))?;
    if !resp.status().is_success() {
        return Err(fail(format!("the server answered {}", resp.status())));
    }
    let mut buf = Vec::new();
    resp.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| fail(format!("reading the answer failed ({})", e.kind())))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::TooLarge {
            file: url.to_string(),
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(buf)
}

#[cfg(not(feature = "http"))]
fn fetch_http(_request: &str, _url: &str) -> Result<Vec<u8>> {
    Err(Error::FeatureMissing {
        what: "an http(s) values URL",
        feature: "http",
    })
}

/// Reads a key from a cluster Secret through the kubeconfig (`KUBECONFIG` or
/// `~/.kube/config`, or the pod's service account), in Helm's `--kube-context`
/// (`HELM_KUBECONTEXT`) when Helm sets one; the namespace is the reference's, else
/// the context's, as `kubectl get secret` would use.
#[cfg(feature = "kubernetes")]
pub(crate) fn read_kubernetes_key(r: &SecretKeyRef) -> Result<Zeroizing<Vec<u8>>> {
    let fail = |reason: String| Error::KubernetesKey {
        secret: r.to_string(),
        key: r.key.clone(),
        reason,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start an async runtime: {e}")))?;
    rt.block_on(async {
        let options = ksec_kube::KubeOptions {
            kubeconfig: None,
            context: std::env::var("HELM_KUBECONTEXT")
                .ok()
                .filter(|c| !c.is_empty()),
            namespace: r.namespace.clone(),
            ..ksec_kube::KubeOptions::default()
        };
        let cluster = ksec_kube::ClusterConfig::load(&options)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let client = cluster.client().map_err(|e| fail(e.to_string()))?;
        let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
            kube::Api::namespaced(client, cluster.namespace());
        let secret = api
            .get(&r.name)
            .await
            .map_err(|e| fail(cluster.explain(e).to_string()))?;
        let mut data = secret.data.unwrap_or_default();
        match data.remove(&r.key) {
            Some(v) => Ok(Zeroizing::new(v.0)),
            None => {
                let mut keys: Vec<String> = data.into_keys().collect();
                keys.sort();
                Err(fail(if keys.is_empty() {
                    format!("Secret {}/{} has no data", cluster.namespace(), r.name)
                } else {
                    format!(
                        "Secret {}/{} has no such key; it has: {}",
                        cluster.namespace(),
                        r.name,
                        keys.join(", ")
                    )
                }))
            }
        }
    })
}

#[cfg(not(feature = "kubernetes"))]
pub(crate) fn read_kubernetes_key(_r: &SecretKeyRef) -> Result<Zeroizing<Vec<u8>>> {
    Err(Error::FeatureMissing {
        what: "a key from a Kubernetes Secret",
        feature: "kubernetes",
    })
}
