//! An SSH public key kept on an account (`ssh-keys`, API.md §7): one OpenSSH public key
//! line `<type> <base64 blob> [comment]`, read down to the key itself so that only keys
//! that can log in are kept:
//! - `ssh-ed25519` (a 32-byte key), `ecdsa-sha2-nistp256/384/521` (the curve named twice,
//!   and an uncompressed point of that curve's size), `ssh-rsa` with a modulus of 2048 to
//!   16384 bits;
//! - the FIDO/U2F security-key types `sk-ssh-ed25519@openssh.com` and
//!   `sk-ecdsa-sha2-nistp256@openssh.com` too: every image Hangar boots has OpenSSH ≥ 8.2,
//!   which takes them, and a hardware key is the best key a user can bring;
//! - the blob must decode (canonical base64), its inner type must be the outer one, and
//!   nothing may follow the key's fields.
//!
//! Its fingerprint is OpenSSH's (`ssh-keygen -l`): `SHA256:` + unpadded base64 of the
//! SHA-256 of the blob. SQL computes the same from the stored line (private.ssh_key_facts),
//! so that a caller of `/rpc` cannot store a key this parser would refuse.
use base64::{
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD},
    Engine,
};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

/// The longest line taken (a 16384-bit RSA key is about 2.8 KB).
pub(crate) const MAX_LINE: usize = 8192;
const MAX_RSA_BITS: usize = 16384;
const MIN_RSA_BITS: usize = 2048;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SshKey {
    /// `<type> <blob>[ <comment>]`, single spaces, as stored and installed.
    line: String,
    kind: &'static str,
    bits: u32,
    fingerprint: String,
}

/// The key types taken, with the curve of the ECDSA ones.
const TYPES: [(&str, Shape); 7] = [
    ("ssh-ed25519", Shape::Ed25519),
    ("ecdsa-sha2-nistp256", Shape::Ecdsa("nistp256", 256)),
    ("ecdsa-sha2-nistp384", Shape::Ecdsa("nistp384", 384)),
    ("ecdsa-sha2-nistp521", Shape::Ecdsa("nistp521", 521)),
    ("ssh-rsa", Shape::Rsa),
    ("sk-ssh-ed25519@openssh.com", Shape::SkEd25519),
    ("sk-ecdsa-sha2-nistp256@openssh.com", Shape::SkEcdsa),
];

#[derive(Debug, Clone, Copy)]
enum Shape {
    Ed25519,
    Ecdsa(&'static str, u32),
    Rsa,
    SkEd25519,
    SkEcdsa,
}

/// The SSH wire strings of a blob (u32 length, then the bytes), or None if it does not
/// split into them exactly.
fn strings(mut blob: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !blob.is_empty() {
        let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
        let s = blob.get(4..4usize.checked_add(len)?)?;
        out.push(s);
        blob = &blob[4 + len..];
    }
    Some(out)
}

/// The size of an uncompressed point (0x04 ‖ X ‖ Y) on a NIST curve of `bits`.
fn point_len(bits: u32) -> usize {
    1 + 2 * (bits as usize).div_ceil(8)
}

/// Bits of a positive mpint (leading zero bytes allowed only as SSH writes them).
fn mpint_bits(n: &[u8]) -> Option<usize> {
    if n.first().is_some_and(|b| b & 0x80 != 0) {
        return None; // negative
    }
    let n = match n.iter().position(|b| *b != 0) {
        Some(i) => &n[i..],
        None => return None, // zero
    };
    Some((n.len() - 1) * 8 + (8 - n[0].leading_zeros() as usize))
}

impl SshKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let line = raw.trim();
        if line.len() > MAX_LINE {
            return Err(format!("must be at most {MAX_LINE} bytes"));
        }
        if line.chars().any(char::is_control) {
            return Err("must be one line without tabs or control characters: an OpenSSH public key (`ssh-ed25519 AAAA… comment`)".into());
        }
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        let (encoded, comment) = rest.trim_start().split_once(' ').unwrap_or((rest.trim_start(), ""));
        let comment = comment.trim();
        if kind.is_empty() || encoded.is_empty() {
            return Err("must be an OpenSSH public key line: `<type> <base64 key> [comment]` (e.g. the contents of ~/.ssh/id_ed25519.pub)".into());
        }
        let Some((kind, shape)) = TYPES.iter().find(|(t, _)| *t == kind).copied() else {
            return Err(format!(
                "type `{}` is not taken; use ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa (2048 bits or more) or a security key (sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com)",
                kind.chars().take(40).collect::<String>()
            ));
        };
        let blob = STANDARD.decode(encoded).map_err(|_| "the key is not valid base64".to_string())?;
        let bad = |what: &str| format!("the {kind} key is malformed: {what}");
        let fields = strings(&blob).ok_or_else(|| bad("its fields do not add up"))?;
        if fields.first().copied() != Some(kind.as_bytes()) {
            return Err(format!("the key inside is not a {kind} key (its type does not match the line's)"));
        }
        let bits = match (shape, &fields[1..]) {
            (Shape::Ed25519, [key]) if key.len() == 32 => 256,
            (Shape::SkEd25519, [key, application]) if key.len() == 32 && !application.is_empty() => 256,
            (Shape::Ecdsa(curve, bits), [named, point]) => {
                if *named != curve.as_bytes() {
                    return Err(bad("its curve does not match its type"));
                }
                if point.len() != point_len(bits) || point[0] != 4 {
                    return Err(bad("the point is not an uncompressed point of the curve"));
                }
                bits
            }
            (Shape::SkEcdsa, [named, point, application]) => {
                if *named != b"nistp256" || point.len() != point_len(256) || point[0] != 4 || application.is_empty() {
                    return Err(bad("not a nistp256 security key"));
                }
                256
            }
            (Shape::Rsa, [e, n]) => {
                mpint_bits(e).ok_or_else(|| bad("the exponent is not a positive number"))?;
                let bits = mpint_bits(n).ok_or_else(|| bad("the modulus is not a positive number"))?;
                if bits < MIN_RSA_BITS {
                    return Err(format!("RSA keys must have at least {MIN_RSA_BITS} bits; this one has {bits}"));
                }
                if bits > MAX_RSA_BITS {
                    return Err(format!("RSA keys may have at most {MAX_RSA_BITS} bits; this one has {bits}"));
                }
                bits as u32
            }
            _ => return Err(bad("wrong number or size of fields")),
        };
        let fingerprint = format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(&blob)));
        let line = if comment.is_empty() { format!("{kind} {encoded}") } else { format!("{kind} {encoded} {comment}") };
        Ok(SshKey { line, kind, bits, fingerprint })
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// `SHA256:<unpadded base64>`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl AsRef<str> for SshKey {
    fn as_ref(&self) -> &str {
        &self.line
    }
}

/// From a JSON string, through [`SshKey::parse`] (its message is the field's error).
impl<'de> Deserialize<'de> for SshKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        SshKey::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(b: &[u8]) -> Vec<u8> {
        let mut out = (b.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(b);
        out
    }

    fn line(fields: &[&[u8]], comment: &str) -> String {
        let kind = std::str::from_utf8(fields[0]).unwrap();
        let blob: Vec<u8> = fields.iter().flat_map(|f| string(f)).collect();
        format!("{kind} {} {comment}", STANDARD.encode(blob)).trim_end().to_string()
    }

    fn point(bits: u32) -> Vec<u8> {
        let mut p = vec![4u8];
        p.extend(std::iter::repeat(9u8).take(point_len(bits) - 1));
        p
    }

    /// An RSA modulus of exactly `bits` bits (as an mpint: a leading 0 when the top bit is set).
    fn modulus(bits: usize) -> Vec<u8> {
        let bytes = bits.div_ceil(8);
        let mut n = vec![0xffu8; bytes];
        n[0] = 0xff >> (bytes * 8 - bits);
        if n[0] & 0x80 != 0 {
            n.insert(0, 0);
        }
        n
    }

    // Real keys made with `ssh-keygen`, and the fingerprints `ssh-keygen -lf` printed.
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXVaRhGv3TRk5safvYVwCoG1++iGTl/TukFbUNPNyRD demo@hangar";
    const ED25519_FP: &str = "SHA256:zcLSWk0rDwqQLegsfc8ZbDJMzIdDXskupBavLks7N/4";

    #[test]
    fn a_real_ed25519_key_and_its_fingerprint() {
        let k = SshKey::parse(&format!("  {ED25519}\n")).unwrap();
        assert_eq!((k.kind(), k.bits(), k.as_ref()), ("ssh-ed25519", 256, ED25519));
        assert_eq!(k.fingerprint(), ED25519_FP);
    }

    #[test]
    fn every_type_parses_with_its_size() {
        let cases: Vec<(String, &str, u32)> = vec![
            (line(&[b"ssh-ed25519", &[1; 32]], "a@b"), "ssh-ed25519", 256),
            (line(&[b"ecdsa-sha2-nistp256", b"nistp256", &point(256)], ""), "ecdsa-sha2-nistp256", 256),
            (line(&[b"ecdsa-sha2-nistp384", b"nistp384", &point(384)], "x"), "ecdsa-sha2-nistp384", 384),
            (line(&[b"ecdsa-sha2-nistp521", b"nistp521", &point(521)], "x"), "ecdsa-sha2-nistp521", 521),
            (line(&[b"ssh-rsa", &[1, 0, 1], &modulus(2048)], "x"), "ssh-rsa", 2048),
            (line(&[b"ssh-rsa", &[1, 0, 1], &modulus(4096)], "x"), "ssh-rsa", 4096),
            (line(&[b"ssh-rsa", &[3], &modulus(3071)], "x"), "ssh-rsa", 3071),
            (line(&[b"sk-ssh-ed25519@openssh.com", &[1; 32], b"ssh:"], "yubi"), "sk-ssh-ed25519@openssh.com", 256),
            (
                line(&[b"sk-ecdsa-sha2-nistp256@openssh.com", b"nistp256", &point(256), b"ssh:"], ""),
                "sk-ecdsa-sha2-nistp256@openssh.com",
                256,
            ),
        ];
        for (l, kind, bits) in cases {
            let k = SshKey::parse(&l).unwrap_or_else(|e| panic!("{l}: {e}"));
            assert_eq!((k.kind(), k.bits()), (kind, bits), "{l}");
            assert!(k.fingerprint().starts_with("SHA256:") && k.fingerprint().len() == 7 + 43, "{}", k.fingerprint());
        }
    }

    #[test]
    fn rsa_below_2048_bits_is_refused() {
        let e = SshKey::parse(&line(&[b"ssh-rsa", &[1, 0, 1], &modulus(2047)], "")).unwrap_err();
        assert_eq!(e, "RSA keys must have at least 2048 bits; this one has 2047");
        assert!(SshKey::parse(&line(&[b"ssh-rsa", &[1, 0, 1], &modulus(1024)], "")).is_err());
        assert!(SshKey::parse(&line(&[b"ssh-rsa", &[1, 0, 1], &modulus(16385)], "")).unwrap_err().contains("at most 16384"));
        // A negative or zero number is no modulus, nor exponent.
        assert!(SshKey::parse(&line(&[b"ssh-rsa", &[1, 0, 1], &[0x80; 300]], "")).is_err());
        assert!(SshKey::parse(&line(&[b"ssh-rsa", &[0], &modulus(2048)], "")).is_err());
    }

    #[test]
    fn the_inner_type_must_be_the_outer_one() {
        let l = line(&[b"ssh-ed25519", &[1; 32]], "").replacen("ssh-ed25519", "ssh-rsa", 1);
        assert!(SshKey::parse(&l).unwrap_err().contains("does not match"));
        let l = line(&[b"ecdsa-sha2-nistp384", b"nistp256", &point(256)], "");
        assert!(SshKey::parse(&l).unwrap_err().contains("curve"));
    }

    #[test]
    fn the_blob_must_decode_into_exactly_the_fields_of_its_type() {
        for bad in [
            line(&[b"ssh-ed25519", &[1; 31]], ""),                            // short key
            line(&[b"ssh-ed25519", &[1; 32], b"extra"], ""),                  // a field too many
            line(&[b"ecdsa-sha2-nistp256", b"nistp256", &point(384)], ""),    // wrong point size
            line(&[b"sk-ssh-ed25519@openssh.com", &[1; 32]], ""),             // no application
            format!("{} x", line(&[b"ssh-ed25519", &[1; 32]], "")).replace("AAAA", "AAA"), // bad base64
        ] {
            assert!(SshKey::parse(&bad).is_err(), "{bad}");
        }
        // Trailing bytes that are not a whole field.
        let mut blob: Vec<u8> = [&b"ssh-ed25519"[..], &[1; 32]].iter().flat_map(|f| string(f)).collect();
        blob.push(0);
        assert!(SshKey::parse(&format!("ssh-ed25519 {}", STANDARD.encode(blob))).is_err());
    }

    #[test]
    fn lines_that_are_not_keys() {
        let cases = [
            ("", "OpenSSH public key line"),
            ("hello", "OpenSSH public key line"),
            ("ssh-dss AAAAB3NzaC1kc3M=", "is not taken"),
            ("ssh-rsa !!!", "base64"),
            ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXVaRhGv3TRk5safvYVwCoG1++iGTl/TukFbUNPNyRD a\nb", "one line"),
            ("command=\"ls\" ssh-ed25519 AAAA", "is not taken"),
        ];
        for (raw, says) in cases {
            let e = SshKey::parse(raw).unwrap_err();
            assert!(e.contains(says), "{raw:?}: {e}");
        }
        assert!(SshKey::parse(&format!("ssh-ed25519 {}", "A".repeat(MAX_LINE))).unwrap_err().contains("at most"));
    }

    #[test]
    fn the_comment_is_kept_and_the_line_normalised() {
        let k = SshKey::parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXVaRhGv3TRk5safvYVwCoG1++iGTl/TukFbUNPNyRD   my laptop  ").unwrap();
        assert_eq!(k.as_ref(), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXVaRhGv3TRk5safvYVwCoG1++iGTl/TukFbUNPNyRD my laptop");
        let k = SshKey::parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXVaRhGv3TRk5safvYVwCoG1++iGTl/TukFbUNPNyRD").unwrap();
        assert_eq!(k.fingerprint(), ED25519_FP, "the comment is not part of the fingerprint");
    }

    #[test]
    fn from_json() {
        assert!(serde_json::from_value::<SshKey>(serde_json::json!(ED25519)).is_ok());
        assert!(serde_json::from_value::<SshKey>(serde_json::json!(5)).is_err());
    }
}
