//! The encryption-at-rest act: the KMS v2 plugin on a temporary socket with a
//! local key file, as `ksec kms serve` runs it (`ksec_kms::Daemon`), a rotation and
//! a reload, and an altered ciphertext refused.
use super::Demo;
use anyhow::{Context, Result};
use ksec_keys::local::LocalConfig;
use ksec_keys::BackendConfig;
use ksec_kms::{ConfigSource, Daemon, Event, PluginConfig, RunOptions};
use std::time::Duration;

/// The plugin on a temporary socket with a local key, driven the way
/// kube-apiserver drives it.
pub(super) fn act(d: &mut Demo) -> Result<()> {
    use ksec_keys::local::rotate_key_file;
    use ksec_kms::proto::v2::key_management_service_client::KeyManagementServiceClient as Client;
    use ksec_kms::proto::v2::{DecryptRequest, EncryptRequest, StatusRequest};
    d.act("Secrets at rest in etcd: the KMS v2 plugin for kube-apiserver");
    let dir = tempfile::Builder::new()
        .prefix("ksec-demo-kms-")
        .tempdir()?;
    let keys = dir.path().join("kms-keys");
    let socket = dir.path().join("kms.sock");
    d.step("Make a local key file, mode 0600 (one base64 AES-256 key per line: the first wraps, all unwrap)");
    let first = rotate_key_file(&keys)?;
    println!("    key id {first}");
    d.step("Start the plugin on a socket: `ksec kms serve --socket kms.sock --backend local --key-file kms-keys`");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut config = PluginConfig::new(BackendConfig::Local(LocalConfig {
            key_file: keys.clone(),
            allow_insecure_permissions: false,
        }));
        config.socket = Some(socket.clone());
        // SIGHUP stays the shell's; the demo asks for its reload through a Reloader.
        let (reloaded_tx, mut reloaded) = tokio::sync::mpsc::unbounded_channel();
        let options = RunOptions::new().reload_on_sighup(false).poll_interval(None).on_event(move |e| {
            if let Event::Reloaded { key_id, .. } = e {
                let _ = reloaded_tx.send(key_id.clone());
            }
        });
        let daemon = Daemon::start(ConfigSource::Fixed(config), options).await?;
        let reloader = daemon.reloader();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(daemon.run(async {
            let _ = stopped.await;
        }));
        let start = std::time::Instant::now();
        while tokio::net::UnixStream::connect(&socket).await.is_err() {
            anyhow::ensure!(start.elapsed() < Duration::from_secs(10), "the plugin did not start");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut c = Client::new(ksec_kms::connect(&socket).await?);
        d.step("kube-apiserver asks for Status (it polls this to decide whether it is healthy)");
        let st = c.status(StatusRequest {}).await?.into_inner();
        println!("    version {}, healthz {}, key_id {}", st.version, st.healthz, st.key_id);
        anyhow::ensure!(st.healthz == "ok" && st.key_id == first.as_str(), "unexpected status");

        d.step("kube-apiserver encrypts a fresh 32-byte seed (from which it derives the data keys of Secrets)");
        let seed = ksec_crypto::rand::secret(32)?;
        let enc = c
            .encrypt(EncryptRequest { plaintext: seed.expose().to_vec(), uid: "demo-1".into() })
            .await?
            .into_inner();
        println!(
            "    {}-byte ciphertext under key_id {}; etcd stores it next to each Secret",
            enc.ciphertext.len(),
            enc.key_id
        );

        d.step("Rotate: a new key on top of the file, then SIGHUP (here: a reload), no restart");
        let second = rotate_key_file(&keys)?;
        reloader.reload();
        tokio::time::timeout(Duration::from_secs(10), reloaded.recv())
            .await
            .ok()
            .flatten()
            .context("the plugin did not reload")?;
        let st = c.status(StatusRequest {}).await?.into_inner();
        println!("    key_id is now {} (the apiserver sees data under the old id as stale)", st.key_id);
        anyhow::ensure!(st.key_id == second.as_str(), "the key id did not change");

        d.step("kube-apiserver decrypts the seed written before the rotation, with its key_id");
        let dec = c
            .decrypt(DecryptRequest {
                ciphertext: enc.ciphertext.clone(),
                uid: "demo-2".into(),
                key_id: enc.key_id.clone(),
                annotations: Default::default(),
            })
            .await?
            .into_inner();
        anyhow::ensure!(dec.plaintext == seed.expose(), "the seed came back different");
        println!("    checked: the same 32 bytes came back");

        d.step("A ciphertext altered in etcd");
        let mut bad = enc.ciphertext;
        if let Some(b) = bad.last_mut() {
            *b ^= 1;
        }
        match c
            .decrypt(DecryptRequest { ciphertext: bad, uid: "demo-3".into(), key_id: enc.key_id, annotations: Default::default() })
            .await
        {
            Ok(_) => anyhow::bail!("an altered ciphertext decrypted"),
            Err(s) => println!("    refused, as it must be: {:?}: {}", s.code(), s.message()),
        }
        let _ = stop.send(());
        server.await??;
        Ok(())
    })
}
