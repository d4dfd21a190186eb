//! The small part of gRPC-over-HTTP/2 a KMS plugin needs: unary calls only, no
//! compression, as kube-apiserver's grpc-go client sends them
//! (<https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md>).
//!
//! Everything here parses outside input and never panics: the request body's
//! length-prefixed message, the `grpc-timeout` header; and it writes the
//! `grpc-message` trailer percent-encoded as the protocol requires.
use std::time::Duration;
use tonic::{Code, Status};

/// Largest request message accepted (bytes). A valid KMS request is at most ~40 KiB
/// (a 1 KiB ciphertext, a 1 KiB key id, 32 KiB of annotations); requests up to this
/// size still reach the limit checks and get their precise message. grpc-go's
/// servers default to 4 MiB, which only lets a broken client make the plugin
/// buffer more (up to this much per concurrent call).
pub const MAX_REQUEST_MESSAGE: usize = 256 << 10;

/// The one message of a unary request body: a 5-byte prefix (compressed flag, u32
/// big-endian length) and exactly that many bytes, nothing after.
pub fn unary_message(body: &[u8]) -> Result<&[u8], Status> {
    let Some((head, rest)) = body.split_first_chunk::<5>() else {
        return Err(if body.is_empty() {
            Status::internal("the request has no message; a unary call carries exactly one")
        } else {
            Status::internal(format!(
                "the request body is {} bytes, shorter than a gRPC message prefix (5)",
                body.len()
            ))
        });
    };
    match head[0] {
        0 => {}
        1 => {
            return Err(Status::unimplemented(
                "the request message is compressed; this plugin accepts uncompressed messages only (send grpc-encoding identity)",
            ))
        }
        f => {
            return Err(Status::internal(format!(
                "invalid gRPC message flag {f} (0 or 1 expected)"
            )))
        }
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_REQUEST_MESSAGE {
        return Err(Status::resource_exhausted(format!(
            "the request message is {len} bytes; this plugin accepts at most {MAX_REQUEST_MESSAGE}"
        )));
    }
    match rest.len().cmp(&len) {
        std::cmp::Ordering::Less => Err(Status::internal(format!(
            "the request message says {len} bytes but the body ends after {}",
            rest.len()
        ))),
        std::cmp::Ordering::Greater => Err(Status::unimplemented(
            "the request body holds more than one message; the KMS methods are unary",
        )),
        std::cmp::Ordering::Equal => Ok(rest),
    }
}

/// Frames an encoded message: the 5-byte prefix, then the bytes.
pub fn frame(msg: &[u8]) -> Vec<u8> {
    prefixed(msg.len(), |out| out.extend_from_slice(msg))
}

/// Encodes a protobuf message straight into one framed buffer (no second copy).
pub fn encode<M: prost::Message>(m: &M) -> Vec<u8> {
    // Encoding into a Vec cannot run out of space.
    prefixed(m.encoded_len(), |out| {
        let _ = m.encode(out);
    })
}

fn prefixed(len: usize, fill: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + len);
    out.push(0);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    fill(&mut out);
    out
}

/// Parses a `grpc-timeout` header value: 1 to 8 ASCII digits and a unit
/// (`H` hours, `M` minutes, `S` seconds, `m` milliseconds, `u` microseconds,
/// `n` nanoseconds). `None` when malformed.
pub fn parse_timeout(v: &[u8]) -> Option<Duration> {
    let (unit, digits) = v.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Percent-encodes a `grpc-message` value: bytes outside printable ASCII, and `%`.
pub fn percent_encode(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for &b in msg.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The numeric value of a status code, for the `grpc-status` trailer.
pub fn code_value(code: Code) -> i32 {
    code as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unary_message_takes_exactly_one_uncompressed_message() {
        assert_eq!(unary_message(&frame(b"abc")).unwrap(), b"abc");
        assert_eq!(unary_message(&frame(b"")).unwrap(), b"");
        assert_eq!(unary_message(b"").unwrap_err().code(), Code::Internal);
        assert_eq!(unary_message(b"\0\0\0").unwrap_err().code(), Code::Internal);
        let mut c = frame(b"abc");
        c[0] = 1;
        assert_eq!(unary_message(&c).unwrap_err().code(), Code::Unimplemented);
        c[0] = 7;
        assert_eq!(unary_message(&c).unwrap_err().code(), Code::Internal);
        let short = &frame(b"abc")[..7];
        assert!(unary_message(short)
            .unwrap_err()
            .message()
            .contains("says 3 bytes"));
        let mut two = frame(b"a");
        two.extend(frame(b"b"));
        assert_eq!(unary_message(&two).unwrap_err().code(), Code::Unimplemented);
        let huge = [0, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            unary_message(&huge).unwrap_err().code(),
            Code::ResourceExhausted
        );
    }

    #[test]
    fn timeouts_in_every_unit_and_malformed_ones() {
        assert_eq!(parse_timeout(b"3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_timeout(b"2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_timeout(b"2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_timeout(b"250m"), Some(Duration::from_millis(250)));
        assert_eq!(
            parse_timeout(b"99999999u"),
            Some(Duration::from_micros(99_999_999))
        );
        assert_eq!(parse_timeout(b"5n"), Some(Duration::from_nanos(5)));
        for bad in [
            &b""[..],
            b"S",
            b"123456789S",
            b"1x",
            b"-1S",
            b"1.5S",
            b"1 S",
        ] {
            assert_eq!(
                parse_timeout(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(percent_encode("key \"k1\" unknown"), "key \"k1\" unknown");
        assert_eq!(percent_encode("50%\nnext"), "50%25%0Anext");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(code_value(Code::Unavailable), 14);
    }
}
