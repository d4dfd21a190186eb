//! The SOPS act: a Helm values file encrypted value by value for an age
//! recipient, decrypted, and a tampered copy refused by the MAC.
use super::Demo;
use anyhow::{ensure, Result};
use std::time::Instant;

const SAMPLE_VALUES: &str = "\
# Helm values for the shop (the database password must stay secret)
replicas: 3
database:
    host: db.shop.svc
    password: correct-horse-battery-staple
    port: 5432
";

pub(super) fn act(d: &mut Demo) -> Result<()> {
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
