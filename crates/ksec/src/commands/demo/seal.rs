//! The sealing act: a Secret sealed with a fresh key pair, unsealed, and a replay
//! into another namespace refused.
use super::Demo;
use anyhow::{ensure, Result};
use ksec_crypto::rsa::RsaPrivateKey;
use ksec_seal::render::{self, Format};
use ksec_seal::{keys::SealingKey, unseal, Sealer, Secret};
use std::time::{Instant, SystemTime};

const SAMPLE_SECRET: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: shop
  labels:
    app: shop
type: Opaque
stringData:
  username: shop_app
  password: correct-horse-battery-staple
data:
  api-token: c2stbGl2ZS01MWQ4YjA2ZQ==
";

pub(super) fn act(d: &mut Demo) -> Result<()> {
    d.act("Secrets in git, sealed (compatible with Bitnami Sealed Secrets)");
    d.step("Generate a sealing key pair, as the in-cluster controller does (RSA-4096, self-signed certificate, 10 years)");
    let t = Instant::now();
    let key = SealingKey::generate(
        4096,
        ksec_seal::keys::DEFAULT_CN,
        SystemTime::now(),
        ksec_seal::keys::DEFAULT_TTL,
    )?;
    let cert = key
        .cert
        .clone()
        .expect("generated keys carry a certificate");
    println!(
        "    fingerprint {}  valid {} .. {}  ({} ms)",
        key.public_key().ssh_fingerprint(),
        ksec_seal::keys::utc_date(cert.not_before),
        ksec_seal::keys::utc_date(cert.not_after),
        t.elapsed().as_millis()
    );
    println!(
        "    The certificate is public: anyone may seal with it. Only the private key can unseal."
    );

    d.step("A plain Kubernetes Secret (base64 is not encryption: never commit this)");
    d.show(SAMPLE_SECRET);
    let secret = ksec_seal::docs::parse_documents(SAMPLE_SECRET.as_bytes())?
        .first()
        .map(Secret::from_value)
        .transpose()?
        .expect("the sample has one document");

    d.step(
        "Seal it with the certificate: `ksec seal --cert cert.pem -f secret.yaml -w sealed.yaml`",
    );
    let t = Instant::now();
    let sealed = Sealer::new(key.public_key().clone()).seal(secret.clone())?;
    let elapsed = t.elapsed();
    d.show(&render::document(&sealed.to_value(), Format::Yaml));
    println!(
        "    {} values sealed in {} µs: each is RSA-OAEP(one-time AES-256 key, label \"shop/db-credentials\") + AES-GCM(value).",
        sealed.encrypted_data.len(),
        elapsed.as_micros()
    );
    println!("    This file is safe to commit; kubeseal's controller and ksec's both read it.");

    d.step("Unseal it with the private key, as the controller does in the cluster (`ksec unseal --key key.yaml`)");
    let keys: Vec<&RsaPrivateKey> = vec![&key.key];
    let opened = unseal(&sealed, &keys)?;
    d.show(&render::document(&opened.secret.to_value(), Format::Yaml));
    let want = secret.merged_data();
    ensure!(
        opened.secret.data == want,
        "the unsealed values differ from the originals"
    );
    println!(
        "    checked: all {} values are byte-for-byte the originals.",
        want.len()
    );

    d.step("Try to replay the sealed values into another namespace");
    let mut moved = sealed.clone();
    moved.metadata.set_namespace("attacker");
    match unseal(&moved, &keys) {
        Ok(_) => anyhow::bail!("a strict-scope SealedSecret opened in another namespace"),
        Err(e) => println!("    refused, as it must be: {e}"),
    }
    Ok(())
}
