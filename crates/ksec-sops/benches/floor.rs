//! Where the time of encrypting and decrypting one file goes, against the floor
//! of parsing plus AES-GCM (a benchmark, run by `scripts/bench-sops`; not a test).
//!
//!   cargo bench -p ksec-sops --bench floor -- FILE [yaml|json]
//!
//! Prints, in milliseconds (best of 3): parsing the plaintext; AES-GCM over every
//! leaf's bytes with a fresh 32-byte IV and its path as AAD, on one core and on
//! every core; emitting; and the library's whole encrypt (data key given, no key
//! wrapping) and decrypt (data key given, MAC checked). The floor is parse +
//! AES-GCM on every core + emit.
use ksec_sops::{
    DataKey, Document, EmitOptions, Encryptor, Format, Item, LockedFile, MacCheck, MasterKey, Value,
};
use std::time::{Duration, Instant};

fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..3 {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed());
        out = Some(r);
    }
    (best, out.expect("ran"))
}

/// Every leaf's bytes and its AAD (the key path joined with `:`), as the value
/// cipher sees them.
fn leaves(doc: &Document) -> Vec<(Vec<u8>, String)> {
    fn go(v: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<u8>, String)>) {
        match v {
            Value::Map(items) => {
                for i in items {
                    if let Item::Entry(k, v) = i {
                        path.push(k.clone());
                        go(v, path, out);
                        path.pop();
                    }
                }
            }
            Value::Seq(vs) => vs.iter().for_each(|v| go(v, path, out)),
            Value::Str(s) | Value::Time(s) => out.push((s.as_bytes().to_vec(), aad(path))),
            Value::Int(i) => out.push((i.to_string().into_bytes(), aad(path))),
            Value::Float(f) => out.push((f.to_string().into_bytes(), aad(path))),
            Value::Bool(b) => out.push((b.to_string().into_bytes(), aad(path))),
            _ => {}
        }
    }
    fn aad(path: &[String]) -> String {
        let mut s = path.join(":");
        s.push(':');
        s
    }
    let mut out = Vec::new();
    for b in &doc.branches {
        go(&Value::Map(b.clone()), &mut Vec::new(), &mut out);
    }
    out
}

fn seal_all(key: &[u8; 32], leaves: &[(Vec<u8>, String)]) -> usize {
    let mut n = 0;
    for (p, a) in leaves {
        let iv = ksec_crypto::rand::array::<32>().expect("rng");
        let (c, _) = ksec_crypto::aead::seal_wide(key, &iv, a.as_bytes(), p).expect("seal");
        n += c.len();
    }
    n
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(path) = args.first() else {
        eprintln!("usage: floor FILE [yaml|json]");
        std::process::exit(2);
    };
    let format = args
        .get(1)
        .and_then(|f| Format::parse(f))
        .unwrap_or_else(|| Format::from_path(path.as_ref()));
    let input = std::fs::read(path).expect("read the file");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;

    let (parse, doc) = best(|| Document::parse(&input, format).expect("parse"));
    let leaves = leaves(&doc);
    let bytes: usize = leaves.iter().map(|(p, _)| p.len()).sum();
    let key = [7u8; 32];
    let (aes1, _) = best(|| seal_all(&key, &leaves));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (aes_n, _) = best(|| {
        std::thread::scope(|s| {
            let chunk = leaves.len().div_ceil(cores).max(1);
            let hs: Vec<_> = leaves
                .chunks(chunk)
                .map(|c| s.spawn(|| seal_all(&key, c)))
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("join"))
                .sum::<usize>()
        })
    });
    let (emit, _) = best(|| doc.emit(format, &EmitOptions::default()).expect("emit"));

    // The library's encrypt and decrypt with a data key given (no age/PGP work).
    let data_key = DataKey::generate().expect("key");
    let group = vec![MasterKey::Age {
        recipient: "age1benchmark".into(),
        enc: "-".into(),
    }];
    let (encrypt, file) = best(|| {
        let doc = Document::parse(&input, format).expect("parse");
        Encryptor::new()
            .encrypt_with_key(doc, format, data_key.clone(), vec![group.clone()])
            .expect("encrypt")
    });
    let (decrypt, _) = best(|| {
        LockedFile::parse(&file, format)
            .and_then(|l| l.unlock(data_key.clone(), MacCheck::Verify))
            .and_then(|o| o.to_plaintext(format, &EmitOptions::default()))
            .expect("decrypt")
    });
    let (parse_enc, _) = best(|| LockedFile::parse(&file, format).expect("parse"));

    let floor = parse + aes_n + emit;
    println!(
        "file {path}: {:.1} MiB, {} leaves, {:.1} MiB of leaf bytes, {cores} cores",
        input.len() as f64 / 1048576.0,
        leaves.len(),
        bytes as f64 / 1048576.0
    );
    println!("  parse plaintext        {:8.1} ms", ms(parse));
    println!("  parse encrypted file   {:8.1} ms", ms(parse_enc));
    println!("  AES-GCM, 1 core        {:8.1} ms", ms(aes1));
    println!("  AES-GCM, {cores} cores       {:8.1} ms", ms(aes_n));
    println!("  emit                   {:8.1} ms", ms(emit));
    println!(
        "  floor (parse + AES-GCM on {cores} cores + emit) {:8.1} ms",
        ms(floor)
    );
    println!(
        "  encrypt (library)      {:8.1} ms   {:.2}x the floor",
        ms(encrypt),
        encrypt.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "  decrypt (library)      {:8.1} ms   {:.2}x the floor",
        ms(decrypt),
        decrypt.as_secs_f64() / floor.as_secs_f64()
    );
}
