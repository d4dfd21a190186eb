//! A gRPC channel to a plugin's unix socket (for `ksec demo`, benchmarks, and
//! tools that talk to a running plugin the way kube-apiserver does).
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use tonic::transport::{Channel, Endpoint};

/// Connects to the plugin at `socket`. The URI is a placeholder: the connector
/// always dials the socket (and `:authority` is `localhost`, as grpc-go sends).
pub async fn connect(socket: &Path) -> Result<Channel, tonic::transport::Error> {
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
}
