//! Strict, canonical unpadded base64url decoding into a caller's buffer.
//!
//! Hand-written rather than the `base64` crate's `decode_slice` (which
//! gw-token still uses to *encode*, and which the tests use as the reference
//! decoder): verification decodes every part of every token it sees, and a
//! table-driven loop with no per-call setup costs a fraction of the crate's
//! general-purpose engine on these short inputs (it was a quarter of
//! `verify`'s non-MAC time). It accepts exactly what `URL_SAFE_NO_PAD`
//! accepts: the RFC 4648 §5 alphabet, no padding, no length ≡ 1 (mod 4), and
//! zero unused trailing bits — so every byte string has one encoding. The
//! unit tests and `tests/token_proptest.rs` compare it with the crate.

/// `DEC[c]`: the 6-bit value of base64url character `c`, or `0x80`.
const DEC: [u8; 256] = {
    let mut t = [0x80u8; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Decodes `text` into the front of `out`; returns the decoded length, or
/// `None` if `text` is not canonical unpadded base64url or `out` is too
/// short.
pub(crate) fn decode(text: &[u8], out: &mut [u8]) -> Option<usize> {
    let full = text.len() / 4;
    let rest = text.len() % 4;
    let len = full * 3 + rest.saturating_sub(1);
    if rest == 1 || out.len() < len {
        return None;
    }
    // Bit 7 of `bad` is set iff some character is outside the alphabet.
    let mut bad = 0u8;
    let v = |c: u8| DEC[usize::from(c)];
    // Eight characters (48 bits, six bytes) at a time, then one group of
    // four if left. A bad character's 0x80 spills into its neighbours'
    // bits; the output is then garbage, and refused.
    let body = &text[..full * 4];
    let mut eights = body.chunks_exact(8);
    let mut o = 0;
    for e in &mut eights {
        let n = e.iter().fold(0u64, |n, &c| {
            let d = v(c);
            bad |= d;
            n << 6 | u64::from(d)
        });
        out[o..o + 6].copy_from_slice(&n.to_be_bytes()[2..]);
        o += 6;
    }
    if let [a, b, c, d] = *eights.remainder() {
        let (a, b, c, d) = (v(a), v(b), v(c), v(d));
        bad |= a | b | c | d;
        let n = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
        out[o..o + 3].copy_from_slice(&n.to_be_bytes()[1..]);
    }
    let tail = &text[full * 4..];
    let o = &mut out[full * 3..len];
    match tail.len() {
        2 => {
            let (a, b) = (v(tail[0]), v(tail[1]));
            bad |= a | b;
            // 12 bits: one byte and 4 unused bits, which must be zero.
            bad |= u8::from(b & 0x0f != 0) << 7;
            o[0] = (a << 2) | (b >> 4);
        }
        3 => {
            let (a, b, c) = (v(tail[0]), v(tail[1]), v(tail[2]));
            bad |= a | b | c;
            // 18 bits: two bytes and 2 unused bits, which must be zero.
            bad |= u8::from(c & 0x03 != 0) << 7;
            o[0] = (a << 2) | (b >> 4);
            o[1] = (b << 4) | (c >> 2);
        }
        _ => {}
    }
    if bad & 0x80 == 0 { Some(len) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn reference(text: &[u8]) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(text).ok()
    }

    fn mine(text: &[u8]) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; text.len()];
        decode(text, &mut buf).map(|n| buf[..n].to_vec())
    }

    /// Every string of up to 3 characters over an alphabet that includes
    /// boundary and invalid characters, and round trips of every length up
    /// to 100: the same answer as the `base64` crate.
    #[test]
    fn agrees_with_the_base64_crate() {
        let chars = b"AQgw-_09az=+/. \x80";
        let mut cases: Vec<Vec<u8>> = vec![vec![]];
        for len in 1..=3 {
            let prev: Vec<Vec<u8>> = cases.iter().filter(|c| c.len() == len - 1).cloned().collect();
            for p in prev {
                for &c in chars {
                    let mut n = p.clone();
                    n.push(c);
                    cases.push(n);
                }
            }
        }
        for all in 0u8..64 {
            cases.push(vec![b'A', DEC.iter().position(|&d| d == all).unwrap() as u8]);
            cases.push(vec![b'A', b'A', DEC.iter().position(|&d| d == all).unwrap() as u8]);
        }
        for c in &cases {
            assert_eq!(mine(c), reference(c), "{:?}", String::from_utf8_lossy(c));
        }
        for len in 0..100usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 151 + len * 7) as u8).collect();
            let text = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(mine(text.as_bytes()), Some(bytes.clone()));
            let mut padded = text.clone();
            padded.push('=');
            assert_eq!(mine(padded.as_bytes()), None);
        }
        let mut small = [0u8; 2];
        assert_eq!(decode(b"AAAA", &mut small), None, "output too short");
        // One bad character anywhere in longer texts (every 8- and 4-group
        // position, and the tail) is refused.
        for len in [8usize, 12, 16, 43, 44, 110] {
            let good: String = (0..len).map(|i| ALPHABET_CHARS[(i * 7) % 64] as char).collect();
            for pos in 0..len {
                for bad in [b'=', b'.', b'+', b'/', b' ', 0x80] {
                    let mut t = good.clone().into_bytes();
                    t[pos] = bad;
                    assert_eq!(mine(&t), None, "len {len} pos {pos} byte {bad:#x}");
                    assert_eq!(reference(&t), None);
                }
            }
        }
    }

    /// Bad characters are recorded by OR-ing their 0x80 into one flag: two
    /// or more in one group must not cancel out (as XOR would), whichever
    /// part of the decoder reads the group — an 8-character step, the last
    /// group of four, or the tail.
    #[test]
    fn several_bad_characters_in_one_group_are_refused() {
        // Encoded lengths 4, 7, 11, 12, 14, 43, 44: every kind of group.
        for bytes in [3usize, 5, 8, 9, 10, 32, 33] {
            let good =
                URL_SAFE_NO_PAD.encode((0..bytes).map(|i| (i * 37 + 11) as u8).collect::<Vec<u8>>()).into_bytes();
            let len = good.len();
            assert!(mine(&good).is_some(), "len {len}");
            for start in (0..len).step_by(4) {
                let group: Vec<usize> = (start..len.min(start + 4)).collect();
                for (n, &i) in group.iter().enumerate() {
                    for &j in &group[n + 1..] {
                        let mut t = good.clone();
                        t[i] = 0x80;
                        t[j] = b'=';
                        assert_eq!(mine(&t), None, "len {len}: bad at {i} and {j}");
                    }
                }
                let mut t = good.clone();
                for &k in &group {
                    t[k] = b'.';
                }
                assert_eq!(mine(&t), None, "len {len}: the whole group from {start} bad");
            }
        }
    }

    const ALPHABET_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    proptest::proptest! {
        /// Arbitrary text over the alphabet, padding and a few other
        /// characters: the same answer as the `base64` crate.
        #[test]
        fn agrees_with_the_base64_crate_on_any_text(text in "[A-Za-z0-9_=+/.-]{0,120}") {
            proptest::prop_assert_eq!(mine(text.as_bytes()), reference(text.as_bytes()));
        }

        /// Arbitrary bytes round-trip.
        #[test]
        fn round_trips(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let text = URL_SAFE_NO_PAD.encode(&bytes);
            proptest::prop_assert_eq!(mine(text.as_bytes()), Some(bytes));
        }
    }
}
