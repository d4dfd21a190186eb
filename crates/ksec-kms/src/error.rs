//! The one error type of the plugin library. Each variant names the item it is
//! about (a file, the socket, an address, the backend); none carries key material,
//! and none names a command-line flag: `ksec kms serve` adds those hints.
use std::path::PathBuf;

/// What went wrong setting up or running the plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration file could not be read or parsed.
    #[error("{origin}: {message}")]
    Config {
        /// The file (or other origin) of the configuration.
        origin: String,
        /// What is wrong; the parser names the field and line.
        message: String,
    },
    /// The configuration names no key backend.
    #[error("no key backend is configured")]
    NoBackend,
    /// The configuration names no socket to serve on.
    #[error("no socket to serve on: the configuration sets none")]
    NoSocket,
    /// The key backend could not be set up from its configuration.
    #[error("cannot set up the key backend")]
    Backend {
        /// Why: the backend's own error names the field, file or service.
        #[source]
        source: ksec_keys::KeyError,
    },
    /// The socket path cannot be served on.
    #[error("socket {}: {message}", .path.display())]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The health and metrics endpoints cannot listen on their address.
    #[error("health endpoint {addr}: cannot listen")]
    HealthAddr {
        /// The `HOST:PORT` asked for.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A plugin's socket could not be reached (client side).
    #[error("cannot connect to the KMS plugin at {}", .socket.display())]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// A plugin answered a call with an error (client side).
    #[error("the KMS plugin's {method} failed ({code:?}): {message}")]
    Call {
        /// The method (`Status`, `Encrypt`, `Decrypt`).
        method: &'static str,
        /// The gRPC status code.
        code: tonic::Code,
        /// The plugin's message.
        message: String,
    },
    /// A signal handler could not be installed.
    #[error("cannot handle {signal}")]
    Signal {
        /// The signal (`SIGHUP`, `SIGTERM`, `SIGINT`).
        signal: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// An error and its causes on one line (`a: b: c`), for logs and events.
pub(crate) use ksec_text::error_chain as chain;
