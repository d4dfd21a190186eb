//! Keys behind a network service, without a network: a remote key service
//! that answers from memory shows the order keys are tried in (local first,
//! remote keys all at once, the decryption order respected) and what an error
//! lists; `.sops.yaml` and recipient texts for KMS and Vault keys; and the
//! three-way merge of encrypted files.
use ksec_crypto::SecretBytes;
use ksec_sops::keys::age::{self, AgeService};
use ksec_sops::merge::{merge, MergeOutcome};
use ksec_sops::{
    Config, DataKey, Document, EmitOptions, Encryptor, Error, Format, KeyIdentity, KeyService,
    Keyring, LockedFile, MacCheck, MasterKey, Recipient,
};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A remote service that "unwraps" `good:*` entries to the data key it holds
/// and fails `bad:*` ones; it records each batch it is handed.
struct FakeRemote {
    key: SecretBytes,
    batches: Arc<Mutex<Vec<usize>>>,
    calls: Arc<AtomicUsize>,
}

impl KeyService for FakeRemote {
    fn kinds(&self) -> &[&'static str] {
        &["kms", "hc_vault"]
    }
    fn is_remote(&self) -> bool {
        true
    }
    fn wrap(&self, to: &Recipient, _secret: &SecretBytes) -> Result<MasterKey, Error> {
        Ok(to.entry("good:wrapped").unwrap())
    }
    fn unwrap(&self, key: &MasterKey) -> Result<SecretBytes, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match key.enc() {
            Some(e) if e.starts_with("good:") => Ok(self.key.clone()),
            _ => Err(Error::KeyService {
                reason: "access denied".into(),
            }),
        }
    }
    fn unwrap_all(
        &self,
        keys: &[&MasterKey],
        report: &mut dyn FnMut(usize, Result<SecretBytes, Error>) -> bool,
    ) {
        self.batches.lock().unwrap().push(keys.len());
        // Failures first, as a slow service would answer them.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|i| keys[*i].enc().is_some_and(|e| e.starts_with("good:")));
        for i in order {
            if !report(i, self.unwrap(keys[i])) {
                return;
            }
        }
    }
}

struct Setup {
    file: Vec<u8>,
    age_identity: ksec_sops::Zeroizing<String>,
    data_key: DataKey,
    batches: Arc<Mutex<Vec<usize>>>,
    calls: Arc<AtomicUsize>,
}

/// A file for an age recipient, a Vault key and a KMS key (`vault_enc` and
/// `kms_enc` choose which of them the fake service opens).
fn setup(vault_enc: &str, kms_enc: Option<&str>) -> Setup {
    let (identity, recipient) = age::generate();
    let mut ages = AgeService::empty();
    ages.add_identities(&identity, "test");
    let local = Keyring::new(vec![Box::new(ages)]);
    let data_key = DataKey::generate().unwrap();
    let secret = SecretBytes::from_slice(data_key.expose());
    let vault = Recipient::hc_vault("https://vault.example.org:8200/v1/transit/keys/app").unwrap();
    let kms = Recipient::kms(
        "arn:aws:kms:eu-west-1:111122223333:key/k1",
        &[("env".into(), "prod".into())],
        None,
    );
    let mut group = vec![
        local.wrap(&Recipient::age(&recipient), &secret).unwrap(),
        vault.entry(vault_enc).unwrap(),
    ];
    if let Some(enc) = kms_enc {
        group.push(kms.entry(enc).unwrap());
    }
    let doc = Document::parse(b"password: hunter2\n", Format::Yaml).unwrap();
    let file = Encryptor::new()
        .encrypt_with_key(doc, Format::Yaml, data_key.clone(), vec![group])
        .unwrap();
    Setup {
        file,
        age_identity: identity,
        data_key,
        batches: Arc::default(),
        calls: Arc::default(),
    }
}

impl Setup {
    fn keyring(&self, with_age: bool) -> Keyring {
        let mut ages = AgeService::empty();
        if with_age {
            ages.add_identities(&self.age_identity, "test");
        }
        Keyring::new(vec![
            Box::new(ages),
            Box::new(FakeRemote {
                key: SecretBytes::from_slice(self.data_key.expose()),
                batches: self.batches.clone(),
                calls: self.calls.clone(),
            }),
        ])
    }

    fn open(&self, keys: &Keyring) -> Result<ksec_sops::OpenFile, Error> {
        LockedFile::parse(&self.file, Format::Yaml)?.open(keys, MacCheck::Verify)
    }
}

#[test]
fn local_keys_come_first_and_remote_keys_are_tried_together() {
    let s = setup("good:v", Some("bad:k"));
    // The age key opens it: no remote call at all.
    s.open(&s.keyring(true)).unwrap();
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
    // Without it: both remote keys in one batch; the failing one answers
    // first, the working one opens the file.
    let open = s.open(&s.keyring(false)).unwrap();
    assert_eq!(open.data_key(), &s.data_key);
    assert_eq!(*s.batches.lock().unwrap(), vec![2]);
    // The decryption order can put the network first.
    let mut keys = s.keyring(true);
    keys.set_decryption_order(["hc_vault", "age"]);
    s.calls.store(0, Ordering::SeqCst);
    s.open(&keys).unwrap();
    assert_eq!(
        s.calls.load(Ordering::SeqCst),
        2,
        "remote keys were tried before age"
    );
}

#[test]
fn when_nothing_works_every_key_is_named_with_its_reason() {
    let s = setup("bad:v", Some("bad:k"));
    let e = s.open(&s.keyring(false)).unwrap_err();
    let Error::NoKey { tried } = &e else {
        panic!("{e}")
    };
    let text = e.to_string();
    assert_eq!(tried.len(), 3, "{text}");
    assert!(text.contains("age recipient age1"), "{text}");
    assert!(
        text.contains(
            "hc_vault key https://vault.example.org:8200/v1/transit/keys/app: access denied"
        ),
        "{text}"
    );
    assert!(
        text.contains("kms key arn:aws:kms:eu-west-1:111122223333:key/k1|env:prod: access denied"),
        "{text}"
    );
    // Without any service for them, the network keys say so.
    let (identity, _) = age::generate();
    let mut ages = AgeService::empty();
    ages.add_identities(&identity, "other");
    let e = s
        .open(&Keyring::new(vec![Box::new(ages)]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no key service for hc_vault keys"), "{e}");
}

#[test]
fn gcp_azure_and_huawei_entries_are_kept_and_named() {
    let s = setup("bad:v", Some("bad:k"));
    let text = String::from_utf8(s.file.clone()).unwrap().replace(
        "sops:\n",
        "sops:\n    gcp_kms:\n        - resource_id: projects/p/locations/global/keyRings/r/cryptoKeys/k\n          created_at: \"2024-01-01T00:00:00Z\"\n          enc: CiQA\n    azure_kv:\n        - vault_url: https://v.vault.azure.net\n          name: k\n          version: abc\n          created_at: \"2024-01-01T00:00:00Z\"\n          enc: xyz\n    hckms:\n        - key_id: tr-west-1:0d8f\n          created_at: \"2024-01-01T00:00:00Z\"\n          enc: q\n",
    );
    let e = LockedFile::parse(text.as_bytes(), Format::Yaml)
        .unwrap()
        .open(&s.keyring(false), MacCheck::Verify)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gcp_kms key projects/p/locations/global/keyRings/r/cryptoKeys/k: ksec cannot use GCP Cloud KMS keys"),
        "{e}"
    );
    assert!(
        e.contains("azure_kv key https://v.vault.azure.net/keys/k/abc"),
        "{e}"
    );
    // With a key that works, they are written back byte for byte.
    let open = LockedFile::parse(text.as_bytes(), Format::Yaml)
        .unwrap()
        .open(&s.keyring(true), MacCheck::Verify)
        .unwrap();
    let again = String::from_utf8(open.seal(&EmitOptions::default()).unwrap()).unwrap();
    assert!(again.contains("resource_id: projects/p/locations/global/keyRings/r/cryptoKeys/k\n          created_at: \"2024-01-01T00:00:00Z\"\n          enc: CiQA\n"));
    assert!(again.contains(
        "vault_url: https://v.vault.azure.net\n          name: k\n          version: abc\n"
    ));
}

#[test]
fn sops_yaml_names_kms_and_vault_keys_as_sops_reads_them() {
    let y = "creation_rules:
  - path_regex: ^flat/
    kms: arn:aws:kms:us-east-1:111122223333:key/a+arn:aws:iam::111122223333:role/r, arn:aws:kms:us-east-1:111122223333:key/b
    aws_profile: prod
    hc_vault_transit_uri: https://vault:8200/v1/transit/keys/one,https://vault:8200/v1/team/transit/keys/two
  - path_regex: ^groups/
    shamir_threshold: 2
    key_groups:
      - kms:
          - arn: arn:aws:kms:us-east-1:111122223333:key/a
            role: arn:aws:iam::111122223333:role/r
            context:
              b: '2'
              a: '1'
            aws_profile: dev
        hc_vault:
          - https://vault:8200/v1/transit/keys/one
          - https://vault:8200/v1/transit/keys/one
      - merge:
          - age:
              - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
          - pgp:
              - FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4
";
    let bad = format!(
        "{y}  - path_regex: ^bad/\n    hc_vault_transit_uri: vault.example.org/v1/transit/keys/x\n"
    );
    let err = Config::parse(Path::new("/repo/.sops.yaml"), bad.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("creation_rules[2].hc_vault_transit_uri") && err.contains("missing scheme"),
        "{err}"
    );
    let c = Config::parse(Path::new("/repo/.sops.yaml"), y.as_bytes()).unwrap();
    let flat = c.rule_for(Path::new("/repo/flat/a.yaml")).unwrap();
    let ids: Vec<&str> = flat.groups[0].iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "arn:aws:kms:us-east-1:111122223333:key/a+arn:aws:iam::111122223333:role/r||prod",
            "arn:aws:kms:us-east-1:111122223333:key/b||prod",
            "https://vault:8200/v1/transit/keys/one",
            "https://vault:8200/v1/team/transit/keys/two",
        ]
    );
    // The command line's encryption context applies to a flat rule's KMS keys.
    let with_ctx = flat.groups_with_context(&[("env".into(), "ci".into())]);
    assert_eq!(
        with_ctx[0][1].id,
        "arn:aws:kms:us-east-1:111122223333:key/b|env:ci|prod"
    );
    assert_eq!(
        with_ctx[0][3].identity(),
        KeyIdentity::HcVault {
            address: "https://vault:8200".into(),
            engine_path: "team/transit".into(),
            key_name: "two".into()
        }
    );
    let groups = c.rule_for(Path::new("/repo/groups/a.yaml")).unwrap();
    assert_eq!(groups.shamir_threshold, Some(2));
    assert_eq!(
        groups.groups[0].len(),
        2,
        "the repeated Vault key is dropped"
    );
    assert_eq!(
        groups.groups[0][0].identity(),
        KeyIdentity::AwsKms {
            arn: "arn:aws:kms:us-east-1:111122223333:key/a".into(),
            role: Some("arn:aws:iam::111122223333:role/r".into()),
            context: vec![("a".into(), "1".into()), ("b".into(), "2".into())],
            aws_profile: Some("dev".into()),
        }
    );
    assert_eq!(
        groups.groups[1]
            .iter()
            .map(|r| r.kind.as_str())
            .collect::<Vec<_>>(),
        ["age", "pgp"],
        "merge adds its groups' keys"
    );
    assert_eq!(
        c.path_globs()[0],
        ksec_sops::PathGlob::Glob("flat/**".into())
    );
}

/// Two age keys; `file(a, b)` encrypts `a: …, b: …` for the first.
struct Age {
    keys: Keyring,
    r1: String,
    r2: String,
}

fn age_pair() -> Age {
    let mut service = AgeService::empty();
    let (i1, r1) = age::generate();
    let (i2, r2) = age::generate();
    service.add_identities(&i1, "one");
    service.add_identities(&i2, "two");
    Age {
        keys: Keyring::new(vec![Box::new(service)]),
        r1,
        r2,
    }
}

fn set(a: &Age, file: &[u8], key: &str, value: &str) -> Vec<u8> {
    let mut open = LockedFile::parse(file, Format::Yaml)
        .unwrap()
        .open(&a.keys, MacCheck::Verify)
        .unwrap();
    open.document_mut()
        .set(
            &format!("[\"{key}\"]").parse().unwrap(),
            ksec_sops::Value::Str(value.into()),
        )
        .unwrap();
    open.seal(&EmitOptions::default()).unwrap()
}

fn value_lines(f: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(f)
        .lines()
        .take_while(|l| !l.starts_with("sops:"))
        .map(str::to_string)
        .collect()
}

fn plain(a: &Age, f: &[u8]) -> String {
    String::from_utf8(
        ksec_sops::decrypt(f, Format::Yaml, &a.keys)
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

#[test]
fn merges_keep_both_sides_ciphertexts_and_follow_a_rotation() {
    let a = age_pair();
    let base = Encryptor::new()
        .recipients([Recipient::age(&a.r1)])
        .encrypt(b"a: one\nb: two\nc: three\n", Format::Yaml, &a.keys)
        .unwrap();
    let ours = set(&a, &base, "a", "ours");
    let theirs = set(&a, &base, "b", "theirs");
    let opts = EmitOptions::default();
    let MergeOutcome::Merged(m) =
        merge(Some(&base), &ours, &theirs, Format::Yaml, &a.keys, &opts).unwrap()
    else {
        panic!("conflict")
    };
    assert_eq!(plain(&a, &m), "a: ours\nb: theirs\nc: three\n");
    // Every value line comes from one side, byte for byte.
    let (m, o, t) = (value_lines(&m), value_lines(&ours), value_lines(&theirs));
    assert_eq!(m, vec![o[0].clone(), t[1].clone(), o[2].clone()]);

    // Theirs rotated (and added a recipient); ours changed a value: the result
    // has their keys, our change, and their data key.
    let mut rotated = LockedFile::parse(&base, Format::Yaml)
        .unwrap()
        .open(&a.keys, MacCheck::Verify)
        .unwrap()
        .rotate(
            Some(vec![vec![Recipient::age(&a.r1), Recipient::age(&a.r2)]]),
            &a.keys,
            &opts,
        )
        .unwrap();
    let MergeOutcome::Merged(m) =
        merge(Some(&base), &ours, &rotated, Format::Yaml, &a.keys, &opts).unwrap()
    else {
        panic!("conflict")
    };
    assert_eq!(plain(&a, &m), "a: ours\nb: two\nc: three\n");
    let key_of = |f: &[u8]| {
        LockedFile::parse(f, Format::Yaml)
            .unwrap()
            .open(&a.keys, MacCheck::Verify)
            .unwrap()
            .data_key()
            .clone()
    };
    assert_eq!(key_of(&m), key_of(&rotated));
    assert_eq!(
        LockedFile::parse(&m, Format::Yaml).unwrap().key_groups()[0].len(),
        2
    );

    // Both rotated: a conflict, with no path (the values did not conflict).
    let ours_rotated = LockedFile::parse(&base, Format::Yaml)
        .unwrap()
        .open(&a.keys, MacCheck::Verify)
        .unwrap()
        .rotate(None, &a.keys, &opts)
        .unwrap();
    let MergeOutcome::Conflict(c) = merge(
        Some(&base),
        &ours_rotated,
        &rotated,
        Format::Yaml,
        &a.keys,
        &opts,
    )
    .unwrap() else {
        panic!("merged two rotations")
    };
    assert!(c.keys_changed_on_both_sides && c.paths.is_empty());
    // The same value changed twice: the path, never the values.
    rotated = set(&a, &base, "a", "theirs");
    let MergeOutcome::Conflict(c) =
        merge(Some(&base), &ours, &rotated, Format::Yaml, &a.keys, &opts).unwrap()
    else {
        panic!("merged a conflict")
    };
    assert_eq!(c.paths, vec!["[\"a\"]".to_string()]);
    assert!(!c.to_string().contains("ours") && !c.to_string().contains("theirs"));
    // A side whose MAC does not check out is refused.
    let mut bad = String::from_utf8(theirs.clone()).unwrap();
    bad = bad.replace("mac: ENC[AES256_GCM,data:", "mac: ENC[AES256_GCM,data:AA");
    assert!(merge(
        Some(&base),
        &ours,
        bad.as_bytes(),
        Format::Yaml,
        &a.keys,
        &opts
    )
    .is_err());
}

#[cfg(feature = "network-keys")]
#[test]
fn the_vault_allowlist_is_checked_before_any_connection() {
    use ksec_sops::network::{NetworkKeys, VaultAllowlist};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let s = setup("vault:v1:abc", None);
    let text = String::from_utf8(s.file.clone())
        .unwrap()
        .replace("https://vault.example.org:8200", &addr);
    let mut ages = AgeService::empty();
    ages.add_identities(&age::generate().0, "other");
    let keys = Keyring::new(vec![
        Box::new(ages),
        Box::new(
            NetworkKeys::from_env()
                .vault_allowlist(VaultAllowlist::parse("https://vault.example.org:8200").unwrap()),
        ),
    ]);
    let e = LockedFile::parse(text.as_bytes(), Format::Yaml)
        .unwrap()
        .open(&keys, MacCheck::Verify)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "SOPS_HC_VAULT_ALLOWLIST does not allow {addr} (no token was sent)"
        )),
        "{e}"
    );
    assert!(listener.accept().is_err(), "nothing connected");
}
