//! `rotate`, `updatekeys` and `groups add|delete` as library calls: keys from
//! the real `age-keygen`, results read by the real `sops` with the keys that
//! should open them (and refused with a removed one).
use super::support::{age_keygen, age_keyring};
use ksec_sops::keys::Keyring;
use ksec_sops::{
    Config, EmitOptions, Encryptor, Error, Format, GroupChange, GroupsUpdate, KeyUpdate,
    LockedFile, MacCheck, Recipient, RecipientChanges, Rotation, Updated,
};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Two age keys and the real sops.
struct Peers {
    sops: PathBuf,
    dir: tempfile::TempDir,
    /// (identity file, recipient) of keys A and B.
    a: (PathBuf, String),
    b: (PathBuf, String),
}

fn peers() -> Option<Peers> {
    let sops = ksec_testkit::peer("sops")?;
    let keygen = ksec_testkit::peer("age-keygen")?;
    let dir = tempfile::Builder::new()
        .prefix("ksec-sops-rekey")
        .tempdir()
        .unwrap();
    let key = |name: &str| {
        let path = dir.path().join(name);
        let recipient = age_keygen(&keygen, &path);
        (path, recipient)
    };
    let (a, b) = (key("a.txt"), key("b.txt"));
    Some(Peers { sops, dir, a, b })
}

impl Peers {
    fn keys(&self) -> Keyring {
        age_keyring(&[&self.a.0, &self.b.0])
    }

    /// A YAML file encrypted for `groups`.
    fn encrypt(&self, groups: Vec<Vec<Recipient>>) -> Vec<u8> {
        Encryptor::new()
            .key_groups(groups)
            .encrypt(PLAIN.as_bytes(), Format::Yaml, &self.keys())
            .unwrap()
    }

    /// What the real sops decrypts `file` to with the identity in `key`.
    fn sops_decrypt(&self, file: &[u8], key: &Path) -> Result<String, String> {
        let path = self.dir.path().join("file.yaml");
        std::fs::write(&path, file).unwrap();
        let out = Command::new(&self.sops)
            .args(["decrypt"])
            .arg(&path)
            .env("SOPS_AGE_KEY_FILE", key)
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_CONFIG")
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn config(&self, recipients: &[&str]) -> Config {
        let path = self.dir.path().join(".sops.yaml");
        let text = format!("creation_rules:\n  - age: {}\n", recipients.join(","));
        Config::parse(&path, text.as_bytes()).unwrap()
    }
}

const PLAIN: &str = "user: admin\npassword: hunter2\n";

fn locked(file: &[u8]) -> LockedFile {
    LockedFile::parse(file, Format::Yaml).unwrap()
}

/// The data key of a file, opened with `keys`.
fn data_key(file: &[u8], keys: &Keyring) -> Vec<u8> {
    locked(file)
        .open(keys, MacCheck::Verify)
        .unwrap()
        .data_key()
        .expose()
        .to_vec()
}

#[test]
fn updatekeys_rewraps_added_keys_and_rekeys_after_a_removal() {
    let Some(p) = peers() else { return };
    let keys = p.keys();
    let only_a = p.encrypt(vec![vec![Recipient::age(&p.a.1)]]);
    let file = p.dir.path().join("file.yaml");

    // A and B: B is added, the data key and the values are kept.
    let both = p.config(&[&p.a.1, &p.b.1]);
    let update = KeyUpdate::plan(&both, &file, &locked(&only_a)).unwrap();
    assert!(!update.is_up_to_date());
    assert_eq!(update.changes().added, [Recipient::age(&p.b.1).describe()]);
    assert!(update.changes().removed.is_empty());
    let (rewrapped, what) = update
        .apply(locked(&only_a), &keys, &EmitOptions::default())
        .unwrap();
    assert_eq!(what, Updated::Rewrapped);
    assert_eq!(data_key(&rewrapped, &keys), data_key(&only_a, &keys));
    assert_eq!(p.sops_decrypt(&rewrapped, &p.b.0).unwrap(), PLAIN);
    assert!(KeyUpdate::plan(&both, &file, &locked(&rewrapped))
        .unwrap()
        .is_up_to_date());

    // Only B: A is removed, so a new data key encrypts every value again.
    let only_b = p.config(&[&p.b.1]);
    let update = KeyUpdate::plan(&only_b, &file, &locked(&rewrapped)).unwrap();
    let removed = vec![Recipient::age(&p.a.1).describe()];
    assert_eq!(update.changes().removed, removed);
    let (rekeyed, what) = update
        .apply(locked(&rewrapped), &keys, &EmitOptions::default())
        .unwrap();
    assert_eq!(what, Updated::Rekeyed(removed));
    assert_ne!(data_key(&rekeyed, &keys), data_key(&rewrapped, &keys));
    assert_eq!(p.sops_decrypt(&rekeyed, &p.b.0).unwrap(), PLAIN);
    assert!(p.sops_decrypt(&rekeyed, &p.a.0).is_err());
}

#[test]
fn updatekeys_without_a_matching_rule_names_the_config_and_file() {
    let Some(p) = peers() else { return };
    let file = p.encrypt(vec![vec![Recipient::age(&p.a.1)]]);
    let path = p.dir.path().join(".sops.yaml");
    let config = Config::parse(
        &path,
        format!(
            "creation_rules:\n  - path_regex: ^prod/\n    age: {}\n",
            p.a.1
        )
        .as_bytes(),
    )
    .unwrap();
    let name = p.dir.path().join("dev/app.yaml");
    match KeyUpdate::plan(&config, &name, &locked(&file)) {
        Err(Error::NoCreationRule { config, file }) => {
            assert_eq!((config, file), (path, name));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rotate_makes_a_new_data_key_and_reports_removed_keys() {
    let Some(p) = peers() else { return };
    let keys = p.keys();
    let file = p.encrypt(vec![vec![Recipient::age(&p.a.1)]]);

    let same = Rotation::plan(&locked(&file), &RecipientChanges::default()).unwrap();
    assert!(same.removed().is_empty());
    let rotated = same
        .apply(
            locked(&file).open(&keys, MacCheck::Verify).unwrap(),
            &keys,
            &EmitOptions::default(),
        )
        .unwrap();
    assert_ne!(data_key(&rotated, &keys), data_key(&file, &keys));
    assert_eq!(p.sops_decrypt(&rotated, &p.a.0).unwrap(), PLAIN);

    let swap = RecipientChanges {
        add: vec![Recipient::age(&p.b.1)],
        remove: vec![Recipient::age(&p.a.1)],
    };
    let rotation = Rotation::plan(&locked(&rotated), &swap).unwrap();
    assert_eq!(rotation.removed(), [Recipient::age(&p.a.1).describe()]);
    let swapped = rotation
        .apply(
            locked(&rotated).open(&keys, MacCheck::Verify).unwrap(),
            &keys,
            &EmitOptions::default(),
        )
        .unwrap();
    assert_eq!(p.sops_decrypt(&swapped, &p.b.0).unwrap(), PLAIN);
    assert!(p.sops_decrypt(&swapped, &p.a.0).is_err());
}

#[test]
fn groups_add_and_delete_as_sops_does() {
    let Some(p) = peers() else { return };
    let keys = p.keys();
    let file = p.encrypt(vec![vec![Recipient::age(&p.a.1)]]);
    let open = |f: &[u8]| locked(f).open(&keys, MacCheck::Verify).unwrap();

    // Adding a group keeps the data key; the two groups need both keys.
    let add = GroupsUpdate::plan(
        &locked(&file),
        GroupChange::Add(vec![Recipient::age(&p.b.1)]),
        None,
    )
    .unwrap();
    assert!(add.removed().is_empty());
    let two = add
        .apply(open(&file), &keys, &EmitOptions::default())
        .unwrap();
    assert_eq!(locked(&two).key_groups().len(), 2);
    assert_eq!(data_key(&two, &keys), data_key(&file, &keys));
    assert!(p.sops_decrypt(&two, &p.a.0).is_err());

    // A threshold above the groups, or a group that is not there, is refused.
    assert!(matches!(
        GroupsUpdate::plan(&locked(&two), GroupChange::Delete(0), Some(2)),
        Err(Error::ThresholdTooHigh {
            threshold: 2,
            groups: 1
        })
    ));
    assert!(matches!(
        GroupsUpdate::plan(&locked(&two), GroupChange::Delete(2), None),
        Err(Error::NoSuchGroup {
            index: 2,
            groups: 2
        })
    ));

    // Deleting A's group removes A: new data key, B alone opens the file.
    let delete = GroupsUpdate::plan(&locked(&two), GroupChange::Delete(0), Some(1)).unwrap();
    assert_eq!(delete.removed(), [Recipient::age(&p.a.1).describe()]);
    let one = delete
        .apply(open(&two), &keys, &EmitOptions::default())
        .unwrap();
    assert_ne!(data_key(&one, &keys), data_key(&two, &keys));
    assert_eq!(p.sops_decrypt(&one, &p.b.0).unwrap(), PLAIN);
    assert!(p.sops_decrypt(&one, &p.a.0).is_err());
}
