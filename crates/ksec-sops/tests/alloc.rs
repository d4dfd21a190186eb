//! Parsing allocates at most a fixed multiple of its input, whatever the input:
//! measured with a counting global allocator (which is why this is a test binary
//! of its own, with a single test, so no other test allocates beside it).
//!
//! The multiple: go-yaml's aliasing rule, which ksec follows so that every file
//! sops reads is read, lets up to 99 % of a document's nodes come from aliases,
//! so one node written in the input may become 100 nodes in memory; a node is
//! at most 2 input bytes (`1,`) and a tree node costs at most ~40 bytes (twice
//! that while a `Vec` grows). 100 × 40 × 2 / 2 ≈ 4 KiB per input byte, plus a
//! floor for the allocations every parse makes. Without the rule a 342-byte
//! file took 6 GB (17 million bytes per input byte).
#![allow(clippy::unwrap_used)]
use ksec_sops::{Document, Format, LockedFile};
use peakmem_alloc::{PeakMemAlloc, PeakMemAllocTrait, INSTRUMENTED_SYSTEM};
use proptest::prelude::*;
use std::alloc::System;

#[global_allocator]
static GLOBAL: &PeakMemAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes a parse may allocate per input byte.
const PER_INPUT_BYTE: usize = 4096;
/// Bytes any parse may allocate, however small its input.
const FLOOR: usize = 1 << 20;

/// The most bytes parsing `input` allocated at any one time, over every
/// reader of every format.
fn peak_parse(input: &[u8]) -> usize {
    let mut worst = 0;
    for format in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini] {
        GLOBAL.reset_peak_memory();
        let plain = Document::parse(input, format);
        drop(plain);
        worst = worst.max(GLOBAL.get_peak_memory());
        GLOBAL.reset_peak_memory();
        let locked = LockedFile::parse(input, format);
        drop(locked);
        worst = worst.max(GLOBAL.get_peak_memory());
    }
    worst
}

fn within_bound(input: &[u8]) -> Result<(), TestCaseError> {
    let peak = peak_parse(input);
    let bound = FLOOR + PER_INPUT_BYTE * input.len();
    prop_assert!(
        peak <= bound,
        "{} input bytes allocated {peak} bytes (bound {bound}): {:?}",
        input.len(),
        String::from_utf8_lossy(&input[..input.len().min(200)])
    );
    Ok(())
}

/// `l0` holds three scalars; each level aliases the one below `width` times.
fn nested(depth: usize, width: usize) -> String {
    let mut y = String::from("l0: &l0 [x, y, z]\n");
    for d in 1..=depth {
        y.push_str(&format!(
            "l{d}: &l{d} [{}]\n",
            vec![format!("*l{}", d - 1); width].join(", ")
        ));
    }
    y
}

/// An anchor of `items` scalars aliased `n` times (the densest shape: two
/// input bytes per anchored node, three per alias).
fn wide(items: usize, n: usize) -> String {
    format!(
        "b: &b [{}]\na: [{}]\n",
        vec!["1"; items].join(","),
        vec!["*b"; n].join(",")
    )
}

/// A string of `len` bytes aliased `n` times.
fn text_laughs(len: usize, n: usize) -> String {
    format!(
        "s: &s \"{}\"\nl: [{}]\n",
        "x".repeat(len),
        vec!["*s"; n].join(",")
    )
}

/// Flattened sops metadata keys with list indices (dotenv and INI).
fn metadata_lists(keys: &[(u8, u16)]) -> String {
    let mut out = String::from("[sops]\n");
    for (k, i) in keys {
        out.push_str(&format!("sops_k{k}__list_{i}__map_x=v\n"));
    }
    out
}

/// One test, so that nothing else allocates while it measures: the worst
/// shape go-yaml's rule accepts, a refused billion laughs, then random input.
#[test]
fn parsing_allocates_a_bounded_multiple_of_its_input() {
    // 2000 anchored scalars aliased 104 times: 98.9 % of 210,000 nodes come
    // from aliases, just inside the rule.
    let worst = wide(2000, 104);
    assert!(Document::parse(worst.as_bytes(), Format::Yaml).is_ok());
    within_bound(worst.as_bytes()).unwrap();
    eprintln!(
        "worst accepted shape: {} input bytes, peak {} bytes ({} per input byte)",
        worst.len(),
        peak_parse(worst.as_bytes()),
        peak_parse(worst.as_bytes()) / worst.len()
    );
    let refused = wide(2000, 105);
    assert!(Document::parse(refused.as_bytes(), Format::Yaml).is_err());
    let bomb = nested(9, 9);
    let peak = peak_parse(bomb.as_bytes());
    assert!(
        peak < FLOOR,
        "a refused billion laughs allocated {peak} bytes"
    );

    let cases = std::env::var("KSEC_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96);
    let strategy = (
        "([a-z]{1,3}|: |- |#|'|\"|\\[|\\]|\\{|\\}|,|\\||&a |&b |\\*a|\\*b|!!str |\n|  |---\n|=)*",
        proptest::collection::vec(any::<u8>(), 0..400),
        (1usize..12, 1usize..16),
        (1usize..600, 1usize..400),
        1usize..4000,
        proptest::collection::vec((any::<u8>(), any::<u16>()), 0..60),
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases));
    runner
        .run(
            &strategy,
            |(noise, bytes, (depth, width), (items, aliases), text_len, keys)| {
                within_bound(noise.as_bytes())?;
                within_bound(&bytes)?;
                within_bound(nested(depth, width).as_bytes())?;
                within_bound(wide(items, aliases).as_bytes())?;
                within_bound(text_laughs(text_len, aliases).as_bytes())?;
                within_bound(metadata_lists(&keys).as_bytes())?;
                Ok(())
            },
        )
        .unwrap();
}
