//! The decoders of values stored in etcd: prefixes, the KMS v2 EncryptedObject, the
//! `k8s\0` protobuf objects and their manifests, and the local providers' read path.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ksec_etcd::internal::decode_value(data);
});
