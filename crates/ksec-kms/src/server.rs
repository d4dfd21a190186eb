//! Serving both API versions on a unix socket created with mode 0600.
use crate::proto::v1beta1::key_management_service_server::KeyManagementServiceServer as V1Server;
use crate::proto::v2::key_management_service_server::KeyManagementServiceServer as V2Server;
use crate::v1::V1;
use crate::v2::V2;
use crate::Plugin;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The socket path is taken by something that is not a stale socket.
    #[error("socket {}: {message}", .path.display())]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

fn socket_err(path: &Path, message: impl Into<String>) -> ServeError {
    ServeError::Socket {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Binds `socket` (replacing a stale socket file, never another kind of file),
/// restricts it to the owner (0600), and serves the v2 and v1beta1 services until
/// `shutdown` resolves; in-flight calls finish first. The socket file is removed
/// at the end.
pub async fn serve(
    socket: &Path,
    plugin: Arc<Plugin>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    match std::fs::symlink_metadata(socket) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                return Err(socket_err(socket, "another process is serving on it"));
            }
            std::fs::remove_file(socket)
                .map_err(|e| socket_err(socket, format!("cannot remove the stale socket: {e}")))?;
        }
        Ok(_) => {
            return Err(socket_err(
                socket,
                "exists and is not a socket; refusing to replace it",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(socket_err(socket, e.to_string())),
    }
    let listener = tokio::net::UnixListener::bind(socket)
        .map_err(|e| socket_err(socket, format!("cannot bind: {e}")))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| socket_err(socket, format!("cannot set mode 0600: {e}")))?;
    tracing::info!(socket = %socket.display(), backend = plugin.backend().kind(), "KMS plugin serving v2 and v1beta1");
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    let r = tonic::transport::Server::builder()
        .add_service(V2Server::new(V2(plugin.clone())))
        .add_service(V1Server::new(V1(plugin)))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    let _ = std::fs::remove_file(socket);
    r.map_err(ServeError::from)
}
