use proptest::prelude::*;

use super::*;
use crate::reference::split_bytewise;
use crate::reference::tests::{edit_once, valid_reference};

/// The classes of `bytes`, one byte at a time.
fn classes_bytewise<M: Mask>(bytes: &[u8]) -> Classes<M> {
    let mut c = Classes::<M>::default();
    for (i, &b) in bytes.iter().enumerate() {
        let class = match b {
            b'a'..=b'z' | b'0'..=b'9' => &mut c.alnum,
            b'A'..=b'Z' => &mut c.upper,
            b'.' => &mut c.dot,
            b'-' => &mut c.dash,
            b'_' => &mut c.underscore,
            b'/' => &mut c.slash,
            b':' => &mut c.colon,
            _ => continue,
        };
        *class = *class | M::from(1) << i;
    }
    c
}

fn every_value_at_every_place<M: Mask + std::fmt::Debug>() {
    // Byte i is 7i + shift: over the 256 shifts, every value at every place.
    for shift in 0..=255u8 {
        let bytes: Vec<u8> = (0..M::BITS)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(shift))
            .collect();
        assert_eq!(Classes::<M>::of(&bytes), Some(classes_bytewise(&bytes)));
    }
    // Every length: the padding after the end belongs to no class.
    for n in 0..=M::BITS {
        let c = Classes::<M>::of(&vec![b'a'; n]).unwrap();
        assert_eq!(c.alnum, M::below(n), "{n} bytes");
        let mixed: Vec<u8> = (0..n).map(|i| b"a.-_/:A@"[i % 8]).collect();
        assert_eq!(Classes::<M>::of(&mixed), Some(classes_bytewise(&mixed)));
    }
    assert_eq!(Classes::<M>::of(&vec![b'a'; M::BITS + 1]), None);
}

#[test]
fn every_byte_value_gets_its_class_at_every_position() {
    every_value_at_every_place::<u64>();
    every_value_at_every_place::<u128>();
}

#[test]
fn masks_count_from_the_first_byte() {
    assert_eq!(u64::below(0), 0);
    assert_eq!(u64::below(3), 0b111);
    assert_eq!(u64::below(64), u64::MAX);
    assert_eq!(u128::below(128), u128::MAX);
    assert!(0b100u64.has(2) && !0b100u64.has(1) && !u64::MAX.has(64));
    assert_eq!(0b1010_0000u64.first(0, 64), 5);
    assert_eq!(0b1010_0000u64.first(6, 64), 7);
    assert_eq!(0b1010_0000u64.first(8, 64), 64);
    assert_eq!(0b1010_0000u64.first(0, 3), 3);
}

/// Where the bulk split answers, it answers what the byte-by-byte one does.
fn agree(input: &str) -> Result<(), TestCaseError> {
    if let Some(bulk) = split(input.as_bytes()) {
        prop_assert_eq!(Ok(bulk), split_bytewise(input), "{:?}", input);
    }
    Ok(())
}

#[test]
fn common_references_are_split_here_as_byte_by_byte() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let long = format!("{}.example.com/{}:v1", "r".repeat(40), "p".repeat(72));
    assert_eq!(long.len(), MAX_LEN);
    for input in [
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/team-a/svc-42:v1.2.3",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/app",
        "ubuntu",
        "ubuntu:22.04",
        "library/ubuntu:latest",
        "index.docker.io/library/ubuntu",
        "localhost/app",
        "localhost:5000/a/b:tag",
        "Registry.Example.COM:443/x__y/z-w--v.u_t:Tag_1.0-rc",
        &format!("ghcr.io/org/tool@{digest}"),
        &format!("ghcr.io/org/tool:1@{digest}"),
        &format!("ubuntu@{digest}"),
        &long,
    ] {
        let bulk = split(input.as_bytes());
        assert!(
            bulk.is_some(),
            "{input:?} was left to the byte-by-byte scan"
        );
        assert_eq!(bulk, split_bytewise(input).ok(), "{input:?}");
    }
}

#[test]
fn anything_that_breaks_a_rule_is_left_to_the_byte_by_byte_scan() {
    for input in [
        "",
        "a..b/c",
        "a.-b/c",
        "a-.b/c",
        "-a.b/c",
        "a.b-/c",
        "a.b./c",
        ".a.b/c",
        "a.b:/c",
        "a.b:8x/c",
        "a.b:1:2/c",
        "a_b.c/d",
        "[::1]/c",
        "http://a.b/c",
        "a.b/",
        "a.b//c",
        "a.b/c/",
        "a.b/_c",
        "a.b/c_",
        "a.b/c..d",
        "a.b/c./d",
        "a.b/c___d",
        "a.b/c_-d",
        "a.b/c-_d",
        "a.b/c-/d",
        "a.b/C",
        "a.b/c:t/u",
        "a.b/c:t:u",
        "a.b/c d",
        "a.b/c:t d",
        "a.b/c\u{e9}",
    ] {
        assert_eq!(split(input.as_bytes()), None, "{input:?}");
    }
    let long = format!("a.b/{}", "c".repeat(MAX_LEN - 3));
    assert!(split_bytewise(&long).is_ok());
    assert_eq!(split(long.as_bytes()), None, "longer than {MAX_LEN} bytes");
}

proptest! {
    #[test]
    fn well_formed_references_are_split_here_as_byte_by_byte(input in valid_reference()) {
        agree(&input)?;
        let bulk_handles = input.len() <= MAX_LEN && !input.contains('[');
        prop_assert_eq!(split(input.as_bytes()).is_some(), bulk_handles, "{:?}", input);
    }

    #[test]
    fn one_edit_away_both_splits_agree(
        input in valid_reference(),
        at in any::<prop::sample::Index>(),
        insert in prop_oneof![
            Just('.'), Just('-'), Just('_'), Just('/'), Just(':'), Just('@'), Just('A'),
            Just('a'), Just('0'), Just(' '), Just('['),
        ],
        delete in any::<bool>(),
    ) {
        agree(&edit_once(&input, at, insert, delete))?;
    }

    #[test]
    fn any_short_string_both_splits_agree(input in "[a-zA-Z0-9:/@._ \\[\\]-]{0,40}") {
        agree(&input)?;
    }
}
