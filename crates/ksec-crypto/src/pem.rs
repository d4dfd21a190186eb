//! PEM armour (RFC 7468) with zeroizing buffers for private keys.
use crate::SecretBytes;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

/// One PEM block: its label (`CERTIFICATE`, `RSA PRIVATE KEY`, …) and DER contents.
pub struct PemBlock {
    /// The label between `BEGIN ` and `-----`.
    pub label: String,
    /// The decoded contents (zeroized on drop: they may be a private key).
    pub der: SecretBytes,
}

/// Every well-formed PEM block in `text`, in order. Text outside blocks is ignored,
/// as Go's `pem.Decode` does; a block whose base64 is broken is skipped.
pub fn parse_all(text: &[u8]) -> Vec<PemBlock> {
    let Ok(text) = std::str::from_utf8(text) else {
        return vec![];
    };
    let mut out = vec![];
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = Zeroizing::new(String::new());
        let mut closed = false;
        for l in lines.by_ref() {
            let l = l.trim();
            if l == end {
                closed = true;
                break;
            }
            // Skip RFC 1421 headers (Proc-Type, DEK-Info): they carry no base64.
            if l.contains(':') {
                continue;
            }
            body.push_str(l);
        }
        if !closed {
            break;
        }
        if let Ok(der) = STANDARD.decode(body.as_bytes()) {
            out.push(PemBlock {
                label: label.to_string(),
                der: SecretBytes::new(der),
            });
        }
    }
    out
}

/// Encodes `der` as a PEM block with 64-column lines. The text is zeroized on drop.
pub fn encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(STANDARD.encode(der));
    let mut out = Zeroizing::new(String::with_capacity(b64.len() + b64.len() / 64 + 64));
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_multiple_blocks() {
        let der: Vec<u8> = (0..=200u8).collect();
        let a = encode("CERTIFICATE", &der);
        let b = encode("RSA PRIVATE KEY", b"xyz");
        let text = format!("junk\n{}between\n{}", *a, *b);
        let blocks = parse_all(text.as_bytes());
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert_eq!(blocks[0].der.expose(), &der[..]);
        assert_eq!(blocks[1].label, "RSA PRIVATE KEY");
        assert!(a.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
    }

    #[test]
    fn unterminated_block_is_ignored() {
        assert!(parse_all(b"-----BEGIN CERTIFICATE-----\nAAAA\n").is_empty());
        assert!(parse_all(b"not pem at all").is_empty());
    }
}
