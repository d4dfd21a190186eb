//! One master key of a file's metadata: the entry as sops stores it, and the
//! identity it names (what a caller needs to reach the key's service).
use crate::tree::{Item, Value};

/// One master key: something that holds an encrypted copy of the data key.
#[derive(Clone, PartialEq)]
pub enum MasterKey {
    /// An age recipient and the armored age file holding the data key.
    Age {
        /// `age1…` (or an SSH public key).
        recipient: String,
        /// The armored age payload.
        enc: String,
    },
    /// A PGP key and the armored PGP message holding the data key.
    Pgp {
        /// The key fingerprint.
        fp: String,
        /// RFC 3339 creation time.
        created_at: String,
        /// The armored PGP message.
        enc: String,
    },
    /// A key type handled elsewhere (`kms`, `gcp_kms`, `azure_kv`, `hc_vault`, `hckms`):
    /// its entry kept as read.
    Other {
        /// The list it appeared in.
        kind: String,
        /// The entry's fields.
        fields: Vec<Item>,
    },
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.describe())
    }
}

impl MasterKey {
    /// The key type name as sops's `--decryption-order` spells it.
    pub fn kind(&self) -> &str {
        match self {
            MasterKey::Age { .. } => "age",
            MasterKey::Pgp { .. } => "pgp",
            MasterKey::Other { kind, .. } => kind,
        }
    }

    /// A one-line description for messages (no secret material): the key type
    /// and the key as sops names it (`kms key ARN+ROLE|k:v`, `hc_vault key
    /// https://vault:8200/v1/transit/keys/NAME`, `gcp_kms key projects/…`).
    pub fn describe(&self) -> String {
        match self.recipient() {
            Some(r) => r.describe(),
            None => format!("{} key", self.kind()),
        }
    }
}

impl MasterKey {
    /// The wrapped data key (or Shamir share) this entry holds: an armored age
    /// or PGP message, a KMS ciphertext in base64, a Vault `vault:v1:…` text.
    pub fn enc(&self) -> Option<&str> {
        match self {
            MasterKey::Age { enc, .. } | MasterKey::Pgp { enc, .. } => Some(enc),
            MasterKey::Other { .. } => self.field("enc"),
        }
    }

    /// A text field of the entry as stored (`arn`, `vault_address`, …).
    pub fn field(&self, name: &str) -> Option<&str> {
        match self {
            MasterKey::Age { recipient, enc } => match name {
                "recipient" => Some(recipient),
                "enc" => Some(enc),
                _ => None,
            },
            MasterKey::Pgp {
                fp,
                created_at,
                enc,
            } => match name {
                "fp" => Some(fp),
                "created_at" => Some(created_at),
                "enc" => Some(enc),
                _ => None,
            },
            MasterKey::Other { fields, .. } => fields.iter().find_map(|i| match i {
                Item::Entry(k, Value::Str(v) | Value::Time(v)) if k == name => Some(v.as_str()),
                _ => None,
            }),
        }
    }

    /// What the key is and where it lives, read from its entry.
    pub fn identity(&self) -> KeyIdentity {
        let text = |name: &str| self.field(name).unwrap_or_default().to_string();
        let optional = |name: &str| {
            self.field(name)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        match self {
            MasterKey::Age { recipient, .. } => KeyIdentity::Age {
                recipient: recipient.clone(),
            },
            MasterKey::Pgp { fp, .. } => KeyIdentity::Pgp {
                fingerprint: fp.clone(),
            },
            MasterKey::Other { kind, fields } => match kind.as_str() {
                "kms" => KeyIdentity::AwsKms {
                    arn: text("arn"),
                    role: optional("role"),
                    context: fields
                        .iter()
                        .find_map(|i| match i {
                            Item::Entry(k, Value::Map(m)) if k == "context" => Some(
                                m.iter()
                                    .filter_map(|e| match e {
                                        Item::Entry(k, v) => {
                                            crate::cipher::leaf_bytes(v).map(|(b, _)| {
                                                (
                                                    k.clone(),
                                                    String::from_utf8_lossy(&b).into_owned(),
                                                )
                                            })
                                        }
                                        Item::Comment(_) => None,
                                    })
                                    .collect(),
                            ),
                            _ => None,
                        })
                        .unwrap_or_default(),
                    aws_profile: optional("aws_profile"),
                },
                "gcp_kms" => KeyIdentity::GcpKms {
                    resource_id: text("resource_id"),
                },
                "azure_kv" => KeyIdentity::AzureKeyVault {
                    vault_url: text("vault_url"),
                    name: text("name"),
                    version: text("version"),
                },
                "hc_vault" => KeyIdentity::HcVault {
                    address: text("vault_address"),
                    engine_path: text("engine_path"),
                    key_name: text("key_name"),
                },
                "hckms" => KeyIdentity::HuaweiKms {
                    key_id: text("key_id"),
                },
                other => KeyIdentity::Unknown {
                    kind: other.to_string(),
                },
            },
        }
    }
}

/// What a master key is and where it lives: enough to reach its service and
/// unwrap the data key (with [`MasterKey::enc`]), without any secret.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyIdentity {
    /// An age recipient (X25519 `age1…`, plugin `age1NAME1…`, or SSH public key).
    Age {
        /// The recipient.
        recipient: String,
    },
    /// A PGP key.
    Pgp {
        /// Its fingerprint.
        fingerprint: String,
    },
    /// An AWS KMS key (`kms`).
    AwsKms {
        /// The key's ARN.
        arn: String,
        /// The IAM role to assume, if any.
        role: Option<String>,
        /// The encryption context, in file order.
        context: Vec<(String, String)>,
        /// The AWS profile named in the file, if any.
        aws_profile: Option<String>,
    },
    /// A GCP KMS key (`gcp_kms`).
    GcpKms {
        /// `projects/…/locations/…/keyRings/…/cryptoKeys/…`.
        resource_id: String,
    },
    /// An Azure Key Vault key (`azure_kv`).
    AzureKeyVault {
        /// The vault's URL.
        vault_url: String,
        /// The key's name.
        name: String,
        /// The key's version.
        version: String,
    },
    /// A HashiCorp Vault / OpenBao Transit key (`hc_vault`).
    HcVault {
        /// The server, `https://host:8200`.
        address: String,
        /// The Transit engine's mount path (`transit`).
        engine_path: String,
        /// The key's name.
        key_name: String,
    },
    /// A HuaweiCloud KMS key (`hckms`).
    HuaweiKms {
        /// `region:key-id`.
        key_id: String,
    },
    /// A key type this crate does not know.
    Unknown {
        /// The list it appeared in.
        kind: String,
    },
}
