//! The sans-IO paths: a caller lists the master keys, fetches the data key (or
//! Shamir shares) itself, and unlocks; or wraps a data key itself and encrypts.
use ksec_sops::keys::age::{self, AgeService};
use ksec_sops::{
    DataKey, Document, Encryptor, Error, Format, KeyIdentity, Keyring, LockedFile, MacCheck,
    Recipient,
};

/// A keyring holding `n` fresh age identities, and their recipients.
fn keys(n: usize) -> (Keyring, Vec<String>) {
    let mut service = AgeService::empty();
    let mut recipients = Vec::new();
    for _ in 0..n {
        let (identity, recipient) = age::generate();
        service.add_identities(&identity, "test");
        recipients.push(recipient);
    }
    (Keyring::new(vec![Box::new(service)]), recipients)
}

const PLAIN: &str = "user: admin\npassword: hunter2\n";

#[test]
fn shares_collected_by_the_caller_open_a_shamir_file() {
    let (keyring, r) = keys(3);
    let file = Encryptor::new()
        .recipients([Recipient::age(&r[0])])
        .recipients([Recipient::age(&r[1])])
        .recipients([Recipient::age(&r[2])])
        .shamir_threshold(2)
        .encrypt(PLAIN.as_bytes(), Format::Yaml, &keyring)
        .unwrap();
    let locked = LockedFile::parse(&file, Format::Yaml).unwrap();
    assert_eq!(locked.key_groups().len(), 3);
    assert_eq!(locked.shares_needed(), 2);
    let mut unlocker = locked.unlocker();
    let pending: Vec<_> = unlocker.pending().collect();
    assert_eq!(pending.len(), 3);
    // The caller opens two groups itself; a third is not needed.
    for (group, key) in pending.into_iter().take(2) {
        assert!(matches!(key.identity(), KeyIdentity::Age { .. }));
        unlocker.insert(group, keyring.unwrap(key).unwrap());
    }
    assert!(unlocker.is_ready());
    let data_key = unlocker.finish().unwrap();
    locked.verify_data_key(&data_key).unwrap();
    let open = locked.unlock(data_key, MacCheck::Verify).unwrap();
    assert_eq!(
        open.to_plaintext(Format::Yaml, &Default::default())
            .unwrap()
            .as_slice(),
        PLAIN.as_bytes()
    );
}

#[test]
fn one_share_of_two_is_not_enough_and_the_error_lists_the_keys() {
    let (keyring, r) = keys(2);
    let file = Encryptor::new()
        .recipients([Recipient::age(&r[0])])
        .recipients([Recipient::age(&r[1])])
        .encrypt(PLAIN.as_bytes(), Format::Yaml, &keyring)
        .unwrap();
    let locked = LockedFile::parse(&file, Format::Yaml).unwrap();
    let mut unlocker = locked.unlocker();
    let (group, key) = unlocker.pending().next().unwrap();
    unlocker.insert(group, keyring.unwrap(key).unwrap());
    let (_, other) = unlocker.pending().next().unwrap();
    unlocker.failed(other, "Vault is sealed");
    assert!(!unlocker.is_ready());
    let err = unlocker.finish().unwrap_err();
    let Error::NoKey { tried } = &err else {
        panic!("{err}")
    };
    assert_eq!(tried.len(), 1);
    assert!(err.to_string().contains("Vault is sealed") && err.to_string().contains(&r[1]));
}

#[test]
fn a_wrong_data_key_is_named_as_such() {
    let (keyring, r) = keys(1);
    let file = Encryptor::new()
        .recipients([Recipient::age(&r[0])])
        .output_format(Format::Json)
        .encrypt(PLAIN.as_bytes(), Format::Yaml, &keyring)
        .unwrap();
    let locked = LockedFile::parse(&file, Format::Json).unwrap();
    let wrong = DataKey::generate().unwrap();
    assert!(matches!(
        locked.verify_data_key(&wrong),
        Err(Error::WrongDataKey)
    ));
    assert!(matches!(
        locked.unlock(wrong, MacCheck::Verify),
        Err(Error::WrongDataKey)
    ));
    assert!(matches!(
        DataKey::from_secret(ksec_crypto::SecretBytes::new(vec![0; 31])),
        Err(Error::DataKeyLength { len: 31 })
    ));
}

#[test]
fn a_data_key_wrapped_by_the_caller_encrypts_a_file() {
    let (keyring, r) = keys(2);
    let data_key = DataKey::generate().unwrap();
    // Two groups: the caller splits the key and wraps each share itself (here
    // with the local keyring; a KMS or Vault client would do the same).
    let shares = data_key.shares(2, None).unwrap();
    let groups = vec![
        vec![keyring.wrap(&Recipient::age(&r[0]), &shares[0]).unwrap()],
        vec![keyring.wrap(&Recipient::age(&r[1]), &shares[1]).unwrap()],
    ];
    let doc = Document::parse(PLAIN.as_bytes(), Format::Yaml).unwrap();
    let file = Encryptor::new()
        .encrypt_with_key(doc, Format::Yaml, data_key.clone(), groups)
        .unwrap();
    let text = String::from_utf8_lossy(&file);
    assert!(text.contains("shamir_threshold: 2") && !text.contains("hunter2"));
    let open = ksec_sops::Decryptor::new(&keyring)
        .open(&file, Format::Yaml)
        .unwrap();
    assert_eq!(open.data_key().expose(), data_key.expose());
    assert_eq!(
        ksec_sops::decrypt(&file, Format::Yaml, &keyring)
            .unwrap()
            .as_slice(),
        PLAIN.as_bytes()
    );
}

#[test]
fn master_keys_name_their_service() {
    let (keyring, r) = keys(1);
    let file = Encryptor::new()
        .recipients([Recipient::age(&r[0])])
        .encrypt(PLAIN.as_bytes(), Format::Yaml, &keyring)
        .unwrap();
    // Add the entries sops writes for AWS KMS and Vault Transit keys.
    let text = String::from_utf8(file).unwrap().replace(
        "sops:\n",
        "sops:\n    kms:\n        - arn: arn:aws:kms:eu-west-1:111122223333:key/abc\n          role: arn:aws:iam::111122223333:role/sops\n          context:\n              env: prod\n              app: shop\n          created_at: \"2024-01-01T00:00:00Z\"\n          enc: AQICAHg=\n          aws_profile: prod\n    hc_vault:\n        - vault_address: https://vault.example:8200\n          engine_path: transit\n          key_name: shop\n          created_at: \"2024-01-01T00:00:00Z\"\n          enc: vault:v1:abc\n",
    );
    let locked = LockedFile::parse(text.as_bytes(), Format::Yaml).unwrap();
    let ids: Vec<KeyIdentity> = locked.key_groups()[0]
        .iter()
        .map(|k| k.identity())
        .collect();
    assert!(ids.contains(&KeyIdentity::AwsKms {
        arn: "arn:aws:kms:eu-west-1:111122223333:key/abc".into(),
        role: Some("arn:aws:iam::111122223333:role/sops".into()),
        context: vec![("env".into(), "prod".into()), ("app".into(), "shop".into())],
        aws_profile: Some("prod".into()),
    }));
    assert!(ids.contains(&KeyIdentity::HcVault {
        address: "https://vault.example:8200".into(),
        engine_path: "transit".into(),
        key_name: "shop".into(),
    }));
    let vault = locked.key_groups()[0]
        .iter()
        .find(|k| k.kind() == "hc_vault")
        .unwrap();
    assert_eq!(vault.enc(), Some("vault:v1:abc"));
    // The local keyring still opens the file with its age key; the others are
    // left to the caller (and kept as they are when the file is written back).
    let open = locked.open(&keyring, MacCheck::Verify).unwrap();
    let again = String::from_utf8(open.seal(&Default::default()).unwrap()).unwrap();
    assert!(
        again.contains("vault:v1:abc") && again.contains("env: prod"),
        "{again}"
    );
}
