//! The plugin's gRPC layer on outside input: a unary request body (5-byte prefix and
//! one message), the `grpc-timeout` header, and the `grpc-message` encoding of any
//! text. Errors, never panics; an accepted body re-frames to the same bytes.
#![no_main]
use ksec_kms::internal::grpc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = grpc::unary_message(data) {
        assert_eq!(grpc::frame(msg), data);
    }
    if let Some(d) = grpc::parse_timeout(data) {
        assert!(d.as_secs() <= 99_999_999 * 3600);
    }
    let text = String::from_utf8_lossy(data);
    let enc = grpc::percent_encode(&text);
    assert!(enc.bytes().all(|b| (0x20..=0x7e).contains(&b)));
});
