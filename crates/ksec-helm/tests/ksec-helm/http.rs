//! Values files at http:// URLs (`secrets://http://…`), served by a small HTTP/1.1
//! server on 127.0.0.1 that the test starts on a free port and stops on drop:
//! helm-secrets' age-encrypted asset decrypted as `sops --decrypt` prints it, a file
//! without SOPS metadata passed on, a 404 named, and `?` making it empty values.
use crate::support::{assets, settings, sops_decrypt, values};
use ksec_helm::download;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Serves the files of one folder by name (`GET /NAME`); anything else is a 404.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(root: PathBuf) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (stop2, requests2) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                requests2.fetch_add(1, Ordering::SeqCst);
                serve(conn, &root);
            }
        });
        Server {
            port,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, root: &std::path::Path) {
    let mut reader = BufReader::new(conn);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let name = request.split_whitespace().nth(1).unwrap_or("/");
    let name = name.trim_start_matches('/');
    let body = (!name.contains("..") && !name.is_empty())
        .then(|| std::fs::read(root.join(name)).ok())
        .flatten();
    let mut conn = reader.into_inner();
    let (status, body) = match body {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", b"not found\n".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
}

#[test]
fn values_files_at_http_urls() {
    let (Some(assets), Some(file)) = (assets(), values("secrets.age.yaml")) else {
        return;
    };
    let key = assets.join("age/key.txt");
    let Some(expected) = sops_decrypt(&file, &[("SOPS_AGE_KEY_FILE", &key)]) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    std::fs::copy(&file, root.path().join("secrets.yaml")).unwrap();
    std::fs::write(root.path().join("plain.yaml"), "a: 1\n").unwrap();
    let server = Server::start(root.path().to_path_buf());

    // An encrypted file: fetched, then decrypted byte for byte as sops does.
    let url = format!(
        "secrets+age-import://{}?{}",
        key.display(),
        server.url("secrets.yaml")
    );
    let got = download(&url, &settings()).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got.data),
        String::from_utf8_lossy(&expected)
    );
    assert!(got.warnings.is_empty(), "{:?}", got.warnings);

    // No SOPS metadata: passed on unchanged, with the URL named in the warning.
    let got = download(
        &format!("secrets://{}", server.url("plain.yaml")),
        &settings(),
    )
    .unwrap();
    assert_eq!(got.data.as_slice(), b"a: 1\n");
    assert!(
        got.warnings[0].contains(&server.url("plain.yaml")),
        "{:?}",
        got.warnings
    );

    // A 404 is an error naming the URL and the answer; with '?' it is empty values.
    let missing = server.url("missing.yaml");
    let e = download(&format!("secrets://{missing}"), &settings())
        .unwrap_err()
        .to_string();
    assert!(e.contains(&missing) && e.contains("404"), "{e}");
    let got = download(&format!("secrets://?{missing}"), &settings()).unwrap();
    assert!(got.data.is_empty());
    assert_eq!(server.requests.load(Ordering::SeqCst), 4);
}
