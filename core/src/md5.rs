//! MD5 (RFC 1321), for sidekiq-unique-jobs' `:legacy` lock digests, which are the MD5 of a JSON
//! text (docs/design.md, §24). Only a fingerprint shared with Ruby processes, never security.

use md5_hash::{Digest, Md5};

/// The lowercase hex MD5 of `data`, as Ruby's `Digest::MD5.hexdigest` writes it.
pub fn hex(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for byte in Md5::digest(data) {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::hex;

    #[test]
    fn matches_the_rfc_1321_test_suite() {
        let cases = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(hex(input.as_bytes()), expected, "{input:?}");
        }
    }

    #[test]
    fn matches_the_plugins_digest_vector() {
        let text = r#"[["class","MyJob"],["lock_args",[1,"a"]],["queue","default"]]"#;
        assert_eq!(hex(text.as_bytes()), "80d4ccd5ffe93c8b9644227f32ff5063");
    }

    /// Lengths around the 56-byte padding edge and the 64-byte block, against Ruby's
    /// `Digest::MD5.hexdigest("x" * length)`.
    #[test]
    fn pads_across_block_boundaries() {
        let cases = [
            (55, "04364420e25c512fd958a70738aa8f72"),
            (56, "668a72d5ba17f08e62dabcafad6db14b"),
            (57, "693037871c4a9d3d8685018905cb530a"),
            (63, "7dc2ca208106a2f703567bdff99d8981"),
            (64, "c1bb4f81d892b2d57947682aeb252456"),
            (65, "1bc932052302d074bdec39795fe00cf6"),
            (119, "ab347a5f68c8a443cfcddc633f12c24f"),
            (120, "fb98667f98096de92620b64f46e1c5b5"),
            (128, "d69cb61a6ee87200676eb0d4b90edbcb"),
            (1000, "398533d48111e9f664b1f64cb10c4b63"),
        ];
        for (len, expected) in cases {
            assert_eq!(hex("x".repeat(len).as_bytes()), expected, "length {len}");
        }
    }
}
