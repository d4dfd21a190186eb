//! `age-plugin-ksectest`: a toy age plugin for ksec's tests, NOT a secure one.
//!
//! It speaks the real age plugin protocol (through the official `age-plugin`
//! crate), so the real `age` CLI and ksec both drive it as they would drive
//! `age-plugin-yubikey`. Its key is symmetric: the recipient carries the same
//! 32 bytes as the identity, and a stanza is the file key XOR the first 16
//! bytes of the key. That is enough to prove a file key went through the plugin
//! and came back, and nothing more.
//!
//! `age-plugin-ksectest --generate` prints a new identity file (recipient in a
//! comment); `--generate --ask` makes a key whose plugin asks for a PIN to
//! decrypt (as a hardware token does), `--generate --ask-wrap` one that also
//! asks to encrypt, to test clients that cannot prompt.
use age_core::format::{FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use age_plugin::{identity, recipient, run_state_machine, Callbacks, PluginHandler};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

const TAG: &str = "ksectest";
const ASK: u8 = 1;
const ASK_WRAP: u8 = 2;

/// A key: its flags byte and its 32 key bytes.
#[derive(Clone)]
struct Key {
    flags: u8,
    bytes: [u8; 32],
}

impl Key {
    fn parse(b: &[u8]) -> Option<Key> {
        if b.len() != 33 {
            return None;
        }
        let mut bytes = [0; 32];
        bytes.copy_from_slice(&b[1..]);
        Some(Key { flags: b[0], bytes })
    }
    fn id(&self) -> String {
        self.bytes[..4].iter().map(|b| format!("{b:02x}")).collect()
    }
    fn xor(&self, k: &[u8; 16]) -> [u8; 16] {
        let mut out = [0; 16];
        for i in 0..16 {
            out[i] = k[i] ^ self.bytes[i];
        }
        out
    }
}

/// Asks for a PIN when the key wants one (`flag`); the answer is not checked.
fn ask<E>(key: &Key, flag: u8, cb: &mut impl Callbacks<E>) -> io::Result<Result<(), String>> {
    if key.flags & flag == 0 {
        return Ok(Ok(()));
    }
    match cb.request_secret("ksectest PIN") {
        Ok(Ok(_)) => Ok(Ok(())),
        Ok(Err(_)) => Ok(Err("the client gave no PIN".into())),
        Err(e) => Err(e),
    }
}

struct Handler;

impl PluginHandler for Handler {
    type RecipientV1 = Wrap;
    type IdentityV1 = Unwrap;
    fn recipient_v1(self) -> io::Result<Wrap> {
        Ok(Wrap(Vec::new()))
    }
    fn identity_v1(self) -> io::Result<Unwrap> {
        Ok(Unwrap(Vec::new()))
    }
}

struct Wrap(Vec<Key>);

impl recipient::RecipientPluginV1 for Wrap {
    fn add_recipient(&mut self, index: usize, _: &str, b: &[u8]) -> Result<(), recipient::Error> {
        let k = Key::parse(b).ok_or(recipient::Error::Recipient {
            index,
            message: "not a ksectest recipient".into(),
        })?;
        self.0.push(k);
        Ok(())
    }
    fn add_identity(&mut self, index: usize, _: &str, b: &[u8]) -> Result<(), recipient::Error> {
        let k = Key::parse(b).ok_or(recipient::Error::Identity {
            index,
            message: "not a ksectest identity".into(),
        })?;
        self.0.push(k);
        Ok(())
    }
    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }
    fn wrap_file_keys(
        &mut self,
        file_keys: Vec<FileKey>,
        mut cb: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        for (index, k) in self.0.iter().enumerate() {
            if let Err(message) = ask(k, ASK_WRAP, &mut cb)? {
                return Ok(Err(vec![recipient::Error::Recipient { index, message }]));
            }
        }
        Ok(Ok(file_keys
            .iter()
            .map(|fk| {
                self.0
                    .iter()
                    .map(|k| Stanza {
                        tag: TAG.into(),
                        args: vec![k.id()],
                        body: k.xor(fk.expose_secret()).to_vec(),
                    })
                    .collect()
            })
            .collect()))
    }
}

struct Unwrap(Vec<Key>);

impl identity::IdentityPluginV1 for Unwrap {
    fn add_identity(&mut self, index: usize, _: &str, b: &[u8]) -> Result<(), identity::Error> {
        let k = Key::parse(b).ok_or(identity::Error::Identity {
            index,
            message: "not a ksectest identity".into(),
        })?;
        self.0.push(k);
        Ok(())
    }
    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        mut cb: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        let mut out = HashMap::new();
        for (file, stanzas) in files.iter().enumerate() {
            for s in stanzas.iter().filter(|s| s.tag == TAG && s.args.len() == 1) {
                let Some((index, k)) = self.0.iter().enumerate().find(|(_, k)| k.id() == s.args[0])
                else {
                    continue;
                };
                if s.body.len() != 16 {
                    continue;
                }
                if let Err(message) = ask(k, ASK, &mut cb)? {
                    out.insert(
                        file,
                        Err(vec![identity::Error::Identity { index, message }]),
                    );
                    break;
                }
                let mut body = [0; 16];
                body.copy_from_slice(&s.body);
                let fk = FileKey::init_with_mut(|f| *f = k.xor(&body));
                out.insert(file, Ok(fk));
                break;
            }
        }
        Ok(out)
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(sm) = args.iter().find_map(|a| a.strip_prefix("--age-plugin=")) {
        return run_state_machine(sm, Handler);
    }
    if args.first().map(String::as_str) == Some("--generate") {
        let mut key = [0u8; 33];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut key[1..])?;
        if args.iter().any(|a| a == "--ask") {
            key[0] = ASK;
        }
        if args.iter().any(|a| a == "--ask-wrap") {
            key[0] = ASK | ASK_WRAP;
        }
        age_plugin::print_new_identity(TAG, &key, &key);
        return Ok(());
    }
    eprintln!("usage: age-plugin-ksectest --generate [--ask | --ask-wrap]  (a toy plugin for ksec's tests)");
    std::process::exit(2)
}
