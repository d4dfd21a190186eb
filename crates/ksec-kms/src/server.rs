//! Serving both API versions on a unix socket created with mode 0600.
//!
//! The server speaks gRPC's unary calls directly on the `h2` crate (see
//! [`crate::grpc`]) instead of through a general gRPC framework: the plugin has six
//! methods, all unary and tiny, and kube-apiserver sends them over one HTTP/2
//! connection. With tonic's server (a task per call, then its routing, body and
//! codec layers) the plugin spent as much CPU per call as its client and missed
//! the 1 ms p99 at 64 callers; the A/B is in the crate README's Benchmark section
//! (`scripts/bench kms`).
use crate::grpc::{self, encode};
use crate::proto::{v1beta1, v2};
use crate::{Error, Plugin};
use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use h2::server::SendResponse;
use h2::RecvStream;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use prost::Message;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tonic::Status;
use zeroize::{Zeroize, Zeroizing};

/// How long a shutdown waits for in-flight calls before closing connections.
const DRAIN: Duration = Duration::from_secs(25);
/// Concurrent calls per connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); a
/// client queues calls beyond it. kube-apiserver's own in-flight limits (400 + 200
/// by default) stay below it; with [`grpc::MAX_REQUEST_MESSAGE`] it bounds what one
/// connection can make the plugin buffer (256 MiB).
const MAX_STREAMS: u32 = 1024;
/// How long a request the plugin does not serve may take to finish sending its body.
const DRAIN_BODY: Duration = Duration::from_secs(1);
/// Largest header block accepted: gRPC requests carry a handful of short headers.
const MAX_HEADER_LIST: u32 = 64 << 10;

fn socket_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Socket {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Binds `socket` (replacing a stale socket file, never another kind of file),
/// restricts it to the owner (0600), and serves the v2 and v1beta1 services until
/// `shutdown` resolves. Then it stops accepting connections, tells the clients to
/// go away (HTTP/2 GOAWAY), lets in-flight calls finish (at most 25 s), and removes
/// the socket file.
pub async fn serve(
    socket: &Path,
    plugin: Arc<Plugin>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    let listener = bind(socket)?;
    serve_on(socket, listener, plugin, shutdown).await;
    Ok(())
}

/// Binds the socket with mode 0600, replacing a stale socket file only.
pub(crate) fn bind(socket: &Path) -> Result<tokio::net::UnixListener, Error> {
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
    Ok(listener)
}

/// Serves on a bound socket until `shutdown`, then drains and removes the socket file.
pub(crate) async fn serve_on(
    socket: &Path,
    listener: tokio::net::UnixListener,
    plugin: Arc<Plugin>,
    shutdown: impl Future<Output = ()> + Send,
) {
    tracing::info!(socket = %socket.display(), backend = plugin.backend().kind(), "KMS plugin serving v2 and v1beta1");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((io, _)) => {
                    conns.spawn(connection(io, plugin.clone(), stop_rx.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: say so, do not spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained =
        tokio::time::timeout(DRAIN, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            connections = conns.len(),
            "calls still in flight after {DRAIN:?}; closing their connections"
        );
        conns.shutdown().await;
    }
    let _ = std::fs::remove_file(socket);
}

/// One client connection: HTTP/2 with prior knowledge (as gRPC clients speak on
/// unix sockets). The calls run concurrently inside the connection's own task (a
/// slow backend call never holds up the others: every backend is async, PKCS#11
/// runs on tokio's blocking pool), so the answers that are ready together leave in
/// one write and no call pays for a task of its own or a wake-up across threads.
async fn connection(
    io: tokio::net::UnixStream,
    plugin: Arc<Plugin>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(MAX_HEADER_LIST)
        .handshake::<_, Bytes>(io);
    let mut conn = tokio::select! {
        c = handshake => match c {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "HTTP/2 handshake failed (not a gRPC client?)");
                return;
            }
        },
        _ = stop.wait_for(|s| *s) => return,
    };
    let mut stopping = false;
    let mut calls = FuturesUnordered::new();
    loop {
        tokio::select! {
            r = conn.accept() => match r {
                Some(Ok((req, respond))) => calls.push(call(req, respond, &plugin)),
                Some(Err(e)) => {
                    if !e.is_io() || !stopping {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                None => return,
            },
            Some(()) = calls.next(), if !calls.is_empty() => {}
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.graceful_shutdown();
            }
        }
    }
}

/// The six methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    V2Status,
    V2Encrypt,
    V2Decrypt,
    V1Version,
    V1Encrypt,
    V1Decrypt,
}

impl Method {
    fn from_path(path: &str) -> Option<Self> {
        Some(match path {
            "/v2.KeyManagementService/Status" => Self::V2Status,
            "/v2.KeyManagementService/Encrypt" => Self::V2Encrypt,
            "/v2.KeyManagementService/Decrypt" => Self::V2Decrypt,
            "/v1beta1.KeyManagementService/Version" => Self::V1Version,
            "/v1beta1.KeyManagementService/Encrypt" => Self::V1Encrypt,
            "/v1beta1.KeyManagementService/Decrypt" => Self::V1Decrypt,
            _ => return None,
        })
    }

    /// API version and operation, the metrics' labels.
    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Self::V2Status => ("v2", "status"),
            Self::V2Encrypt => ("v2", "encrypt"),
            Self::V2Decrypt => ("v2", "decrypt"),
            Self::V1Version => ("v1beta1", "version"),
            Self::V1Encrypt => ("v1beta1", "encrypt"),
            Self::V1Decrypt => ("v1beta1", "decrypt"),
        }
    }
}

/// What goes back: a plain HTTP error (not a gRPC request at all) or a gRPC answer.
enum Reply {
    Http(StatusCode, &'static str),
    Grpc(Result<Vec<u8>, Status>),
}

async fn call(req: Request<RecvStream>, respond: SendResponse<Bytes>, plugin: &Plugin) {
    let reply = answer(req, plugin).await;
    if let Err(e) = send(respond, reply) {
        // The client went away (cancelled the call or closed the connection).
        tracing::debug!(error = %e, "could not send the response");
    }
}

async fn answer(req: Request<RecvStream>, plugin: &Plugin) -> Reply {
    let (method, deadline) = match route(&req) {
        Ok(r) => r,
        Err(reply) => {
            // Read what the client still sends before answering, so the stream
            // ends cleanly instead of with a reset some clients report as a
            // framing error (curl: "Stream error in the HTTP/2 framing layer").
            let _ = tokio::time::timeout(DRAIN_BODY, read_body(req.into_body())).await;
            return reply;
        }
    };
    let (api, op) = method.labels();
    let work = async {
        let body = read_body(req.into_body()).await?;
        let msg = grpc::unary_message(&body)?;
        dispatch(plugin, method, msg).await
    };
    let result = crate::timed(plugin, api, op, async {
        match deadline {
            None => work.await,
            Some(d) => match tokio::time::timeout(d, work).await {
                Ok(r) => r,
                Err(_) => Err(Status::deadline_exceeded(format!(
                    "the call took longer than the client's deadline ({d:?})"
                ))),
            },
        }
    })
    .await;
    Reply::Grpc(result)
}

/// Which method a request calls and its deadline, or the answer to a request the
/// plugin does not serve.
fn route(req: &Request<RecvStream>) -> Result<(Method, Option<Duration>), Reply> {
    if req.method() != http::Method::POST {
        return Err(Reply::Http(
            StatusCode::METHOD_NOT_ALLOWED,
            "this is a gRPC server (KMS plugin): calls are POST requests\n",
        ));
    }
    let grpc_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.as_bytes().strip_prefix(b"application/grpc"))
        .is_some_and(|rest| rest.is_empty() || rest[0] == b'+' || rest[0] == b';');
    if !grpc_type {
        return Err(Reply::Http(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "this is a gRPC server (KMS plugin): content-type must be application/grpc\n",
        ));
    }
    let Some(method) = Method::from_path(req.uri().path()) else {
        let path: String = req.uri().path().chars().take(200).collect();
        return Err(Reply::Grpc(Err(Status::unimplemented(format!(
            "unknown method {path}; this plugin serves v2.KeyManagementService (Status, Encrypt, Decrypt) and v1beta1.KeyManagementService (Version, Encrypt, Decrypt)"
        )))));
    };
    let deadline = match req.headers().get("grpc-timeout") {
        None => None,
        Some(v) => Some(grpc::parse_timeout(v.as_bytes()).ok_or_else(|| {
            Reply::Grpc(Err(Status::internal(
                "malformed grpc-timeout header (1-8 digits and a unit H, M, S, m, u or n)",
            )))
        })?),
    };
    Ok((method, deadline))
}

/// The whole request body, releasing HTTP/2 flow-control capacity as it arrives.
async fn read_body(mut body: RecvStream) -> Result<Bytes, Status> {
    let mut first: Option<Bytes> = None;
    let mut more: Vec<u8> = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| Status::cancelled(format!("reading the request: {e}")))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        let have = first.as_ref().map_or(0, Bytes::len) + more.len();
        if have + chunk.len() > grpc::MAX_REQUEST_MESSAGE + 5 {
            return Err(Status::resource_exhausted(format!(
                "the request is larger than {} bytes; KMS requests are a few KiB",
                grpc::MAX_REQUEST_MESSAGE
            )));
        }
        match &first {
            None => first = Some(chunk),
            Some(f) => {
                if more.is_empty() {
                    more.extend_from_slice(f);
                }
                more.extend_from_slice(&chunk);
            }
        }
    }
    Ok(if more.is_empty() {
        first.unwrap_or_default()
    } else {
        Bytes::from(more)
    })
}

fn malformed(what: &'static str) -> impl Fn(prost::DecodeError) -> Status {
    move |e| Status::invalid_argument(format!("malformed {what}: {e}"))
}

async fn dispatch(plugin: &Plugin, method: Method, msg: &[u8]) -> Result<Vec<u8>, Status> {
    Ok(match method {
        Method::V2Status => {
            let r = v2::StatusRequest::decode(msg).map_err(malformed("StatusRequest"))?;
            encode(&crate::v2::status(plugin, r).await?)
        }
        Method::V2Encrypt => {
            let r = crate::limits::parse_encrypt_request(msg)?;
            encode(&crate::v2::encrypt(plugin, r).await?)
        }
        Method::V2Decrypt => {
            let r = crate::limits::parse_decrypt_request(msg)?;
            let mut resp = crate::v2::decrypt(plugin, r).await?;
            let out = encode(&resp);
            resp.plaintext.zeroize();
            out
        }
        Method::V1Version => {
            let r = v1beta1::VersionRequest::decode(msg).map_err(malformed("VersionRequest"))?;
            encode(&crate::v1::version(plugin, r).await?)
        }
        Method::V1Encrypt => {
            let r = v1beta1::EncryptRequest::decode(msg).map_err(malformed("EncryptRequest"))?;
            encode(&crate::v1::encrypt(plugin, r).await?)
        }
        Method::V1Decrypt => {
            let r = v1beta1::DecryptRequest::decode(msg).map_err(malformed("DecryptRequest"))?;
            let mut resp = crate::v1::decrypt(plugin, r).await?;
            let out = encode(&resp);
            resp.plain.zeroize();
            out
        }
    })
}

const GRPC: HeaderValue = HeaderValue::from_static("application/grpc");

fn send(mut respond: SendResponse<Bytes>, reply: Reply) -> Result<(), h2::Error> {
    let mut head = Response::new(());
    match reply {
        Reply::Http(code, text) => {
            *head.status_mut() = code;
            head.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            let mut body = respond.send_response(head, false)?;
            body.send_data(Bytes::from_static(text.as_bytes()), true)
        }
        Reply::Grpc(Ok(message)) => {
            head.headers_mut().insert(header::CONTENT_TYPE, GRPC);
            let mut body = respond.send_response(head, false)?;
            // Decrypt answers hold plaintext: the buffer is wiped when h2 has sent it.
            body.send_data(Bytes::from_owner(Zeroizing::new(message)), false)?;
            let mut trailers = HeaderMap::with_capacity(1);
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            body.send_trailers(trailers)
        }
        Reply::Grpc(Err(status)) => {
            // "Trailers-Only": one HEADERS frame that ends the stream.
            let h = head.headers_mut();
            h.insert(header::CONTENT_TYPE, GRPC);
            h.insert(
                "grpc-status",
                HeaderValue::from(grpc::code_value(status.code())),
            );
            if let Ok(v) = HeaderValue::from_str(&grpc::percent_encode(status.message())) {
                h.insert("grpc-message", v);
            }
            respond.send_response(head, true).map(|_| ())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_its_path_and_labels() {
        for (path, labels) in [
            ("/v2.KeyManagementService/Status", ("v2", "status")),
            ("/v2.KeyManagementService/Encrypt", ("v2", "encrypt")),
            ("/v2.KeyManagementService/Decrypt", ("v2", "decrypt")),
            (
                "/v1beta1.KeyManagementService/Version",
                ("v1beta1", "version"),
            ),
            (
                "/v1beta1.KeyManagementService/Encrypt",
                ("v1beta1", "encrypt"),
            ),
            (
                "/v1beta1.KeyManagementService/Decrypt",
                ("v1beta1", "decrypt"),
            ),
        ] {
            assert_eq!(Method::from_path(path).unwrap().labels(), labels);
        }
        assert_eq!(Method::from_path("/v2.KeyManagementService/status"), None);
        assert_eq!(Method::from_path("/v3.KeyManagementService/Status"), None);
    }

    #[test]
    fn responses_are_framed_in_one_buffer() {
        let m = v2::StatusResponse {
            version: "v2".into(),
            healthz: "ok".into(),
            key_id: "k".into(),
        };
        let framed = encode(&m);
        assert_eq!(grpc::unary_message(&framed).unwrap(), m.encode_to_vec());
        assert_eq!(framed, grpc::frame(&m.encode_to_vec()));
    }
}
