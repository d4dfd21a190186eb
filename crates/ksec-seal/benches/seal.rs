//! Sealing and unsealing a Secret with 1,000 keys, per value, next to kubesealpy in the
//! same run and next to the floor: one raw RSA-4096 OAEP operation.
//!
//!   scripts/bench seal        (or: cargo bench -p ksec-seal --bench seal)
//!
//! Not a test: it prints numbers and ratios (ours/theirs).
// A benchmark of fixed inputs: a failure is a bug to see at once.
#![allow(clippy::unwrap_used)]
use ksec_crypto::rsa::RsaPrivateKey;
use ksec_seal::{unseal, Sealer, Secret};
use std::process::Command;
use std::time::Instant;

const VALUES: usize = 1000;

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let key = RsaPrivateKey::from_pem(
        &std::fs::read(format!("{root}/testdata/keys/test-key-a.pem")).unwrap(),
    )
    .unwrap();
    let public = key.public_key().clone();
    let mut data = serde_json::Map::new();
    for i in 0..VALUES {
        data.insert(
            format!("key{i}"),
            serde_json::Value::String(format!("value-{i}-{}", "x".repeat(32))),
        );
    }
    let doc = serde_json::json!({"kind": "Secret", "apiVersion": "v1",
        "metadata": {"name": "bench", "namespace": "default"}, "stringData": data});
    let secret = Secret::from_value(&doc).unwrap();

    // Best of three rounds each: the machine may be busy with other work.
    let best = |per: usize, f: &mut dyn FnMut()| {
        (0..3)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e6 / per as f64
            })
            .fold(f64::INFINITY, f64::min)
    };
    // The floor: raw RSA-OAEP operations.
    let n = 200;
    let ct = public
        .encrypt_oaep_sha256(&[7u8; 32], b"default/bench")
        .unwrap();
    let rsa_pub_us = best(n, &mut || {
        for _ in 0..n {
            public
                .encrypt_oaep_sha256(&[7u8; 32], b"default/bench")
                .unwrap();
        }
    });
    let rsa_priv_us = best(n, &mut || {
        for _ in 0..n {
            key.decrypt_oaep_sha256(&ct, b"default/bench").unwrap();
        }
    });
    let sealer = Sealer::new(public.clone());
    let mut sealed = None;
    let seal_us = best(VALUES, &mut || {
        sealed = Some(sealer.seal(secret.clone()).unwrap());
    });
    let sealed = sealed.unwrap();
    let unseal_us = best(VALUES, &mut || {
        let opened = unseal(&sealed, &[&key]).unwrap();
        assert_eq!(opened.secret.data.len(), VALUES);
    });

    println!("sealing benchmark: one Secret with {VALUES} values, RSA-4096 key (per value)");
    println!("  raw RSA-4096 OAEP public op (floor for seal)    {rsa_pub_us:>9.1} µs");
    println!("  raw RSA-4096 OAEP private op (floor for unseal) {rsa_priv_us:>9.1} µs");
    println!(
        "  ksec seal                                       {seal_us:>9.1} µs   ({:.2}x the floor)",
        seal_us / rsa_pub_us
    );
    println!("  ksec unseal                                     {unseal_us:>9.1} µs   ({:.2}x the floor)", unseal_us / rsa_priv_us);

    let py = std::env::var("KSEC_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!("{}/benches/kubesealpy_bench.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(&py)
        .arg(&script)
        .arg(format!("{root}/testdata/keys/test-cert-a.pem"))
        .arg(format!("{root}/testdata/keys/test-key-a.pem"))
        .arg(VALUES.to_string())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let mut it = text
                .split_whitespace()
                .map(|x| x.parse::<f64>().unwrap_or(f64::NAN));
            let (py_seal, py_unseal) =
                (it.next().unwrap_or(f64::NAN), it.next().unwrap_or(f64::NAN));
            println!("  kubesealpy seal                                 {py_seal:>9.1} µs   ours/theirs = {:.3}", seal_us / py_seal);
            println!("  kubesealpy unseal                               {py_unseal:>9.1} µs   ours/theirs = {:.3}", unseal_us / py_unseal);
        }
        Ok(o) => println!(
            "  kubesealpy: failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            println!("  kubesealpy: not run ({e}); run through scripts/bench, which installs it")
        }
    }
}
