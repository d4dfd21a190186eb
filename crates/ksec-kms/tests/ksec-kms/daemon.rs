//! The plugin process as `ksec kms serve` runs it (`Daemon`): a configuration file
//! with a local key file, reloads on a key-file change, on SIGHUP and on request, a
//! broken key file that leaves the previous keys serving, health endpoints, and a
//! shutdown that drains and removes the socket.
use ksec_keys::local::rotate_key_file;
use ksec_kms::{Client, ConfigSource, Daemon, Error, Event, Overrides, RunOptions};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the tests look at in an event: its kind, the reload reason, the key id or
/// the error's text.
fn describe(e: &Event) -> String {
    match e {
        Event::Started { backend, health } => format!("started {backend} ok={}", health.is_ok()),
        Event::Serving { .. } => "serving".into(),
        Event::Reloaded { reason, key_id } => format!("reloaded {reason} {key_id}"),
        Event::ReloadFailed { reason, error } => {
            format!("failed {reason} {}", chain(error))
        }
        Event::ShuttingDown => "shutting down".into(),
        _ => "other".into(),
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut c = e.source();
    while let Some(x) = c {
        s.push_str(": ");
        s.push_str(&x.to_string());
        c = x.source();
    }
    s
}

/// The next event that starts with `prefix`, within 10 s.
fn wait_for(events: &mpsc::Receiver<String>, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(e) if e.starts_with(prefix) => return e,
            Ok(_) => {}
            Err(_) => panic!("no event {prefix:?} within 10 s"),
        }
    }
}

fn http_status(port: u16, path: &str) -> u16 {
    ksec_testkit::http_get(([127, 0, 0, 1], port).into(), path).map_or(0, |(code, _)| code)
}

#[test]
fn reloads_on_file_change_sighup_and_request_and_drains_on_shutdown() {
    let dir = ksec_testkit::tempdir();
    let keys = dir.path().join("keys");
    let id1 = rotate_key_file(&keys).unwrap();
    let socket = dir.path().join("kms.sock");
    let port = ksec_testkit::free_port();
    let cfg = dir.path().join("kms.yaml");
    std::fs::write(
        &cfg,
        format!(
            "health_addr: 127.0.0.1:{port}\nbackend:\n  local: {{key_file: {}}}\n",
            keys.display()
        ),
    )
    .unwrap();
    let source = ConfigSource::File {
        path: cfg.clone(),
        overrides: Overrides {
            socket: Some(socket.clone()),
            ..Overrides::default()
        },
    };
    let (tx, events) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let options = RunOptions::new()
        .poll_interval(Some(Duration::from_millis(100)))
        .on_event(move |e| {
            let _ = tx.lock().unwrap().send(describe(e));
        });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (handles_tx, handles) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        ksec_kms::runtime().unwrap().block_on(async move {
            let daemon = Daemon::start(source, options).await?;
            handles_tx
                .send((daemon.plugin().clone(), daemon.reloader()))
                .unwrap();
            daemon
                .run(async {
                    let _ = stopped.await;
                })
                .await
        })
    });
    assert_eq!(wait_for(&events, "started"), "started local ok=true");
    let (plugin, reloader) = handles.recv().unwrap();
    wait_for(&events, "serving");
    assert_eq!(http_status(port, "/healthz"), 200);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut client = rt.block_on(Client::connect(&socket)).unwrap();
    let status = rt.block_on(client.status()).unwrap();
    assert_eq!(
        (status.healthz.as_str(), status.key_id.as_str()),
        ("ok", id1.as_str())
    );
    let wrapped = rt.block_on(client.encrypt(&[3; 32], "before")).unwrap();

    // A new key on top of the file: the poll sees it, no signal needed.
    let id2 = rotate_key_file(&keys).unwrap();
    assert_eq!(
        wait_for(&events, "reloaded"),
        format!("reloaded file changed {id2}")
    );
    assert_eq!(plugin.backend().key_id(), id2);
    // What the old key wrapped still opens; an altered copy is refused by name.
    let seed = rt.block_on(client.decrypt(&wrapped, "after")).unwrap();
    assert_eq!(seed.as_slice(), [3; 32]);
    let mut altered = wrapped.clone();
    altered.ciphertext[20] ^= 1;
    let e = rt
        .block_on(client.decrypt(&altered, "altered"))
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Call {
                method: "Decrypt",
                code: tonic::Code::InvalidArgument,
                ..
            }
        ),
        "{e:?}"
    );
    drop(client);

    // SIGHUP reloads (the handler is installed before the socket is bound).
    ksec_testkit::signal(std::process::id(), "-HUP");
    assert_eq!(
        wait_for(&events, "reloaded"),
        format!("reloaded SIGHUP {id2}")
    );
    reloader.reload();
    assert_eq!(
        wait_for(&events, "reloaded"),
        format!("reloaded requested {id2}")
    );

    // A broken key file is not loaded: the previous keys keep serving.
    std::fs::write(&keys, "not base64\n").unwrap();
    let failed = wait_for(&events, "failed");
    assert!(
        failed.starts_with("failed file changed cannot set up the key backend: key file")
            && failed.contains("line 1"),
        "{failed}"
    );
    assert_eq!(plugin.backend().key_id(), id2);
    // A configuration file that no longer parses: the same.
    std::fs::write(&cfg, "backend: [\n").unwrap();
    let failed = wait_for(&events, "failed");
    assert!(failed.contains("kms.yaml"), "{failed}");
    assert_eq!(plugin.backend().key_id(), id2);

    // Shutdown: drained, the socket removed, the health endpoints closed.
    stop.send(()).unwrap();
    wait_for(&events, "shutting down");
    thread.join().unwrap().unwrap();
    assert!(!socket.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let e = rt.block_on(Client::connect(&socket)).unwrap_err();
    assert!(
        matches!(&e, Error::Connect { socket: s, .. } if *s == socket),
        "{e:?}"
    );
}

#[test]
fn start_and_run_errors_name_the_item() {
    let dir = ksec_testkit::tempdir();
    let keys = dir.path().join("keys");
    rotate_key_file(&keys).unwrap();
    let rt = ksec_kms::runtime().unwrap();
    let config = |text: String| {
        let path = dir.path().join("kms.yaml");
        std::fs::write(&path, text).unwrap();
        ConfigSource::File {
            path,
            overrides: Overrides::default(),
        }
    };
    let quiet = || {
        RunOptions::new()
            .reload_on_sighup(false)
            .poll_interval(None)
    };
    let local = format!("backend:\n  local: {{key_file: {}}}\n", keys.display());

    let e = rt
        .block_on(Daemon::start(config(local.clone()), quiet()))
        .unwrap_err();
    assert!(matches!(e, Error::NoSocket), "{e:?}");

    let missing = dir.path().join("missing-keys");
    let e = rt
        .block_on(Daemon::start(
            config(format!(
                "socket: {}\nbackend:\n  local: {{key_file: {}}}\n",
                dir.path().join("a.sock").display(),
                missing.display()
            )),
            quiet(),
        ))
        .unwrap_err();
    assert!(matches!(e, Error::Backend { .. }), "{e:?}");
    assert!(chain(&e).contains(&missing.display().to_string()), "{e}");

    // The health address is taken: run() says which one, before binding the socket.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let socket = dir.path().join("b.sock");
    let e = rt
        .block_on(async {
            let d = Daemon::start(
                config(format!(
                    "socket: {}\nhealth_addr: {addr}\n{local}",
                    socket.display()
                )),
                quiet(),
            )
            .await?;
            d.run(std::future::pending()).await
        })
        .unwrap_err();
    assert!(
        matches!(&e, Error::HealthAddr { addr: a, .. } if *a == addr),
        "{e:?}"
    );
    assert!(!socket.exists());
}
