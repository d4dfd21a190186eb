//! `ksec demo`: ksec's main jobs end to end on built-in sample data, offline, explaining
//! each step. Each part of ksec adds its own act.
use anyhow::{ensure, Result};
use ksec_crypto::rsa::RsaPrivateKey;
use ksec_seal::render::{self, Format};
use ksec_seal::{keys::SealingKey, seal, unseal, SealOptions, Secret};
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

/// Prints numbered steps.
pub struct Demo {
    step: usize,
}

impl Demo {
    /// Starts a new act with a title.
    pub fn act(&mut self, title: &str) {
        println!("\n######## {title} ########");
    }

    /// Announces the next step.
    pub fn step(&mut self, what: &str) {
        self.step += 1;
        println!("\n==> {}. {what}", self.step);
    }

    /// Shows a block of text, indented.
    pub fn show(&self, text: &str) {
        for line in text.lines() {
            println!("    {line}");
        }
    }
}

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

/// Runs every act.
pub fn run() -> Result<ExitCode> {
    let mut demo = Demo { step: 0 };
    println!("ksec demo: everything below runs offline on built-in sample data.");
    sealing_act(&mut demo)?;
    sops_act(&mut demo)?;
    super::kms::demo_act(&mut demo)?;
    println!("\nDemo finished: every step checked its result.");
    Ok(ExitCode::SUCCESS)
}

fn sealing_act(d: &mut Demo) -> Result<()> {
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
    let sealed = seal::seal(secret.clone(), key.public_key(), &SealOptions::default())?;
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
    let opened = unseal::unseal(&sealed, &keys)?;
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
    match unseal::unseal(&moved, &keys) {
        Ok(_) => anyhow::bail!("a strict-scope SealedSecret opened in another namespace"),
        Err(e) => println!("    refused, as it must be: {e}"),
    }
    Ok(())
}

const SAMPLE_VALUES: &str = "\
# Helm values for the shop (the database password must stay secret)
replicas: 3
database:
    host: db.shop.svc
    password: correct-horse-battery-staple
    port: 5432
";

fn sops_act(d: &mut Demo) -> Result<()> {
    use ksec_sops::keys::age::AgeService;
    use ksec_sops::{decrypt, Encryptor, Format, Keyring, Recipient, Rules};
    d.act("Config files in git, encrypted value by value (compatible with SOPS)");
    d.step("Generate an age key pair (`age-keygen -o keys.txt`)");
    let (identity, recipient) = ksec_sops::keys::age::generate();
    println!("    recipient (public): {recipient}");
    let mut age = AgeService::empty();
    age.add_identities(&identity, "generated identity");
    let keyring = Keyring::new(vec![Box::new(age)]);

    d.step("A plain Helm values file");
    d.show(SAMPLE_VALUES);

    d.step("Encrypt only the password for the recipient: `ksec sops encrypt --age age1… --encrypted-regex '^password$' values.yaml`");
    let encryptor = Encryptor::new()
        .recipients([Recipient::age(&recipient)])
        .rules(Rules {
            encrypted_regex: Some(Rules::regex("--encrypted-regex", "^password$")?),
            ..Rules::default()
        });
    let t = Instant::now();
    let enc = encryptor.encrypt(SAMPLE_VALUES.as_bytes(), Format::Yaml, &keyring)?;
    let elapsed = t.elapsed();
    let text = String::from_utf8(enc.clone())?;
    d.show(&text);
    ensure!(
        !text.contains("correct-horse"),
        "the password was not encrypted"
    );
    println!(
        "    encrypted in {} µs. Keys, comments and other values stay readable, so diffs stay reviewable;",
        elapsed.as_micros()
    );
    println!("    the MAC covers every value, so any change without the key is detected. The real sops reads this file.");

    d.step("Decrypt it with the age identity (`SOPS_AGE_KEY_FILE=keys.txt ksec sops decrypt values.yaml`)");
    let plain = decrypt(&enc, Format::Yaml, &keyring)?;
    let plain = String::from_utf8(plain.to_vec())?;
    d.show(&plain);
    ensure!(
        plain == SAMPLE_VALUES,
        "the decrypted file differs from the original"
    );
    println!("    checked: the decrypted file is byte-for-byte the original, comment included.");

    d.step("Tamper with a readable value and decrypt again");
    let tampered = text.replace("replicas: 3", "replicas: 30");
    match decrypt(tampered.as_bytes(), Format::Yaml, &keyring) {
        Ok(_) => anyhow::bail!("a tampered file decrypted without a MAC error"),
        Err(e) => println!("    refused, as it must be (sops exit code 51): {e}"),
    }
    Ok(())
}
