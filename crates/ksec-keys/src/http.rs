//! The HTTP client shared by the Vault and AWS backends (reqwest over rustls).
use crate::{KeyError, Result};
use std::path::Path;

/// Builds a client; `ca_file` adds a PEM bundle of extra trusted roots.
pub(crate) fn client(
    backend: &'static str,
    ca_field: &str,
    ca_file: Option<&Path>,
) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("ksec/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(64);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            KeyError::config(
                backend,
                ca_field,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            KeyError::config(
                backend,
                ca_field,
                format!("{} is not a PEM certificate bundle: {e}", path.display()),
            )
        })?;
        if certs.is_empty() {
            return Err(KeyError::config(
                backend,
                ca_field,
                format!("{} holds no certificate", path.display()),
            ));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| {
        KeyError::config(
            backend,
            ca_field,
            format!("cannot build the HTTP client: {e}"),
        )
    })
}

/// A client that does not check the server's certificate (Vault's
/// `VAULT_SKIP_VERIFY`); `field` names the setting in an error.
pub(crate) fn insecure_client(backend: &'static str, field: &str) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("ksec/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(64)
        .danger_accept_invalid_certs(true)
        .build()
        .map_err(|e| KeyError::config(backend, field, format!("cannot build the HTTP client: {e}")))
}

/// Maps a transport error (no HTTP answer) to [`KeyError::Unavailable`].
pub(crate) fn transport_error(
    backend: &'static str,
    endpoint: &str,
    e: reqwest::Error,
) -> KeyError {
    let mut message = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    KeyError::Unavailable {
        backend,
        endpoint: endpoint.to_string(),
        message: crate::error::truncate(&message),
    }
}
