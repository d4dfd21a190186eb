//! The bbolt reader behind `ksec etcd audit --snapshot` (meta pages, branch and leaf
//! pages, overflow runs, the `key` bucket, revision keys, mvccpb.KeyValue).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ksec_etcd::internal::read_bolt(data);
});
