//! `Hangar-Signature` between the Workers and the runner (API.md §5):
//! `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<context>.<t>.<raw body>")>`.
//!
//! Why a context per [`Direction`]: both directions share RUNNER_SECRET. Without a
//! context, a webhook body captured on its way to the runner could be replayed to
//! `runner-callback` (or a callback to the runner) and verify. With "hangar-webhook" and
//! "hangar-callback" mixed into the MAC, a signature is only ever valid one way.
//!
//! Why the parsing is strict (exactly one `t`, exactly one `v1`, nothing else): the Worker
//! dedupes callbacks on the signature to apply each report once. A lenient parser let the
//! same (t, mac) be sent again under another header text (a second `v1`, an unknown part,
//! other spacing) and look new. [`Signature::canonical`] is the dedupe key instead: it
//! depends only on the parsed values, so every spelling of one signature has the same key.
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;

pub const HEADER: &str = "Hangar-Signature";
/// How far a signature's time may be from now, either way, before it is refused (seconds).
pub const TOLERANCE_SECS: i64 = 300;

/// Who signs, and so which context goes into the MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Worker → runner: the job webhook.
    Webhook,
    /// Runner → Worker: the reports to `runner-callback`.
    Callback,
}

impl Direction {
    /// The signing context mixed into the MAC.
    pub fn context(self) -> &'static str {
        match self {
            Direction::Webhook => "hangar-webhook",
            Direction::Callback => "hangar-callback",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureError {
    /// No header.
    Missing,
    /// Not exactly `t=<digits>` and `v1=<64 hex>`, once each, and nothing else.
    Malformed,
    /// `t` is more than [`TOLERANCE_SECS`] away from now.
    Stale,
    /// Well formed and fresh, but not a MAC of this body with this secret and direction.
    Mismatch,
}

impl SignatureError {
    /// A short word for logs and error details.
    pub fn reason(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing",
            SignatureError::Malformed => "malformed",
            SignatureError::Stale => "stale",
            SignatureError::Mismatch => "mismatch",
        }
    }
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} signature ({})", HEADER, self.reason())
    }
}

impl std::error::Error for SignatureError {}

/// A parsed signature: its time and its MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature {
    pub timestamp: i64,
    pub mac: [u8; 32],
}

impl Signature {
    /// Parses a header value: comma-separated parts `key=value`, whitespace around parts and
    /// around `=` ignored, keys and hex case-insensitive. Exactly one `t` (1 to 18 decimal
    /// digits) and exactly one `v1` (64 hex digits); an empty, unknown or repeated part is
    /// [`SignatureError::Malformed`].
    pub fn parse(header: &str) -> Result<Signature, SignatureError> {
        let mut timestamp = None;
        let mut mac = None;
        for part in header.split(',') {
            let (key, value) = part.split_once('=').ok_or(SignatureError::Malformed)?;
            let (key, value) = (key.trim(), value.trim());
            if key.eq_ignore_ascii_case("t") && timestamp.is_none() {
                timestamp = Some(parse_timestamp(value)?);
            } else if key.eq_ignore_ascii_case("v1") && mac.is_none() {
                mac = Some(parse_mac(value)?);
            } else {
                return Err(SignatureError::Malformed);
            }
        }
        match (timestamp, mac) {
            (Some(timestamp), Some(mac)) => Ok(Signature { timestamp, mac }),
            _ => Err(SignatureError::Malformed),
        }
    }

    /// `t=<t>,v1=<lowercase hex>`: the same for every spelling of this signature (the
    /// replay-dedupe key), and what [`sign`] writes.
    pub fn canonical(&self) -> String {
        format!("t={},v1={}", self.timestamp, hex::encode(self.mac))
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

fn parse_timestamp(value: &str) -> Result<i64, SignatureError> {
    // Digits only (no sign, no '+'): an i64 of at most 18 digits cannot overflow.
    if (1..=18).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse().map_err(|_| SignatureError::Malformed)
    } else {
        Err(SignatureError::Malformed)
    }
}

fn parse_mac(value: &str) -> Result<[u8; 32], SignatureError> {
    let mut mac = [0u8; 32];
    if value.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    hex::decode_to_slice(value, &mut mac).map_err(|_| SignatureError::Malformed)?;
    Ok(mac)
}

fn compute(secret: &str, direction: Direction, timestamp: i64, body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(direction.context().as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The header value for `body` sent in `direction`, signed at `timestamp` (unix seconds).
pub fn sign(secret: &str, direction: Direction, timestamp: i64, body: &[u8]) -> String {
    Signature { timestamp, mac: compute(secret, direction, timestamp, body) }.canonical()
}

/// Checks a header value against `body` received in `direction` at `now` (unix seconds).
/// The order of the checks is: present, well formed, fresh, then the MAC (constant-time).
pub fn verify(secret: &str, direction: Direction, header: Option<&str>, body: &[u8], now: i64) -> Result<Signature, SignatureError> {
    let signature = Signature::parse(header.ok_or(SignatureError::Missing)?)?;
    if now.saturating_sub(signature.timestamp).saturating_abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let expected = compute(secret, direction, signature.timestamp, body);
    if bool::from(expected.ct_eq(&signature.mac)) {
        Ok(signature)
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: i64 = 1_700_000_000;

    #[test]
    fn round_trip_and_canonical_form() {
        let h = sign("s3cret", Direction::Callback, T, b"{\"a\":1}");
        assert!(h.starts_with("t=1700000000,v1="));
        assert_eq!(h.len(), "t=1700000000,v1=".len() + 64);
        let s = verify("s3cret", Direction::Callback, Some(&h), b"{\"a\":1}", T + 100).unwrap();
        assert_eq!(s.timestamp, T);
        assert_eq!(s.canonical(), h);
        assert_eq!(s.to_string(), h);
    }

    #[test]
    fn the_mac_covers_context_time_and_body() {
        // An independent computation of the documented formula.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"k").unwrap();
        mac.update(b"hangar-webhook.1700000000.body");
        let expected = format!("t=1700000000,v1={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sign("k", Direction::Webhook, T, b"body"), expected);
        assert_eq!(Direction::Callback.context(), "hangar-callback");
    }

    #[test]
    fn directions_do_not_verify_each_other() {
        let w = sign("s", Direction::Webhook, T, b"x");
        let c = sign("s", Direction::Callback, T, b"x");
        assert_ne!(w, c);
        assert_eq!(verify("s", Direction::Callback, Some(&w), b"x", T), Err(SignatureError::Mismatch));
        assert_eq!(verify("s", Direction::Webhook, Some(&c), b"x", T), Err(SignatureError::Mismatch));
    }

    #[test]
    fn refusals() {
        let d = Direction::Webhook;
        let h = sign("s3cret", d, T, b"body");
        assert_eq!(verify("other", d, Some(&h), b"body", T), Err(SignatureError::Mismatch));
        assert_eq!(verify("s3cret", d, Some(&h), b"body!", T), Err(SignatureError::Mismatch));
        assert_eq!(verify("s3cret", d, Some(&h), b"body", T + 301), Err(SignatureError::Stale));
        assert_eq!(verify("s3cret", d, Some(&h), b"body", T - 301), Err(SignatureError::Stale));
        assert!(verify("s3cret", d, Some(&h), b"body", T + 300).is_ok());
        assert_eq!(verify("s3cret", d, None, b"body", 0), Err(SignatureError::Missing));
        let v1 = &h[h.find("v1=").unwrap() + 3..];
        let malformed = [
            String::new(),
            " ".into(),
            "t=1,v1=zz".into(),
            "v1=00".into(),
            format!("v1={v1}"),
            "t=1700000000".into(),
            format!("t=1700000000,v1={v1},"),
            format!(",t=1700000000,v1={v1}"),
            format!("t=1700000000,,v1={v1}"),
            format!("t=1700000000,v1={v1},v1={v1}"),
            format!("t=1700000000,t=1700000000,v1={v1}"),
            format!("t=1700000000,v1={v1},v0=00"),
            format!("t=1700000000,v1={v1},x"),
            format!("t=-1,v1={v1}"),
            format!("t=+1700000000,v1={v1}"),
            format!("t=1e9,v1={v1}"),
            format!("t=,v1={v1}"),
            format!("t=9999999999999999999,v1={v1}"),
            format!("t=1700000000,v1={}", &v1[..62]),
            format!("t=1700000000,v1={v1}00"),
            format!("t=1700000000,v1=={v1}"),
            format!("t=1700000000;v1={v1}"),
        ];
        for header in malformed {
            assert_eq!(verify("s3cret", d, Some(&header), b"body", T), Err(SignatureError::Malformed), "{header:?}");
        }
    }

    #[test]
    fn spellings_of_one_signature_share_the_canonical_form() {
        let h = sign("s", Direction::Callback, T, b"b");
        let v1 = &h[h.find("v1=").unwrap() + 3..];
        let canonical = Signature::parse(&h).unwrap().canonical();
        for other in [
            format!("v1={v1},t={T}"),
            format!(" t = {T} , v1 = {} ", v1.to_uppercase()),
            format!("T={T},V1={v1}"),
            format!("t=000{T},v1={v1}"),
        ] {
            let s = verify("s", Direction::Callback, Some(&other), b"b", T).unwrap();
            assert_eq!(s.canonical(), canonical, "{other}");
        }
    }

    fn spelled(s: &Signature, swap: bool, upper: bool, zeros: usize, pad: [&str; 4], key_upper: bool) -> String {
        let mut v1 = hex::encode(s.mac);
        if upper {
            v1 = v1.to_uppercase();
        }
        let (tk, vk) = if key_upper { ("T", "V1") } else { ("t", "v1") };
        let t = format!("{}{}", "0".repeat(zeros), s.timestamp);
        let t_part = format!("{}{tk}{}={}{t}", pad[0], pad[1], pad[2]);
        let v_part = format!("{}{vk}={v1}{}", pad[3], pad[0]);
        if swap {
            format!("{v_part},{t_part}")
        } else {
            format!("{t_part},{v_part}")
        }
    }

    proptest! {
        #[test]
        fn verify_never_panics(header in proptest::option::of(".{0,200}"), body in proptest::collection::vec(any::<u8>(), 0..200),
                               now in any::<i64>(), secret in ".{0,40}", webhook in any::<bool>()) {
            let d = if webhook { Direction::Webhook } else { Direction::Callback };
            let _ = verify(&secret, d, header.as_deref(), &body, now);
        }

        #[test]
        fn verify_never_panics_on_near_misses(t in "[0-9+-]{0,22}", v1 in "[0-9a-fA-FxX]{0,70}", extra in "[,= tv1]{0,6}", now in any::<i64>()) {
            let header = format!("t={t},v1={v1}{extra}");
            let _ = verify("s", Direction::Webhook, Some(&header), b"x", now);
        }

        #[test]
        fn sign_then_verify(secret in ".{0,64}", body in proptest::collection::vec(any::<u8>(), 0..512),
                            t in 0i64..=999_999_999_999_999_999, skew in -TOLERANCE_SECS..=TOLERANCE_SECS, webhook in any::<bool>()) {
            let d = if webhook { Direction::Webhook } else { Direction::Callback };
            let h = sign(&secret, d, t, &body);
            let s = verify(&secret, d, Some(&h), &body, t.saturating_add(skew)).unwrap();
            prop_assert_eq!(s.timestamp, t);
            prop_assert_eq!(s.canonical(), h);
        }

        #[test]
        fn a_direction_never_verifies_as_the_other(secret in ".{0,64}", body in proptest::collection::vec(any::<u8>(), 0..256),
                                                   t in 0i64..4_000_000_000) {
            let w = sign(&secret, Direction::Webhook, t, &body);
            let c = sign(&secret, Direction::Callback, t, &body);
            prop_assert_eq!(verify(&secret, Direction::Callback, Some(&w), &body, t), Err(SignatureError::Mismatch));
            prop_assert_eq!(verify(&secret, Direction::Webhook, Some(&c), &body, t), Err(SignatureError::Mismatch));
        }

        #[test]
        fn every_spelling_has_the_same_canonical_form(t in 0i64..4_000_000_000, mac in any::<[u8; 32]>(),
                                                      swap in any::<bool>(), upper in any::<bool>(), key_upper in any::<bool>(),
                                                      zeros in 0usize..4, pad in proptest::array::uniform4(prop_oneof![Just(""), Just(" "), Just("\t"), Just("  ")])) {
            let s = Signature { timestamp: t, mac };
            let header = spelled(&s, swap, upper, zeros, pad, key_upper);
            let parsed = Signature::parse(&header);
            prop_assert_eq!(parsed, Ok(s), "{}", header);
            prop_assert_eq!(parsed.unwrap().canonical(), s.canonical());
        }

        #[test]
        fn a_second_or_foreign_part_is_always_malformed(t in 0i64..4_000_000_000, mac in any::<[u8; 32]>(),
                                                        extra in prop_oneof![Just("t=1".to_string()), "v1=[0-9a-f]{64}", "[a-z0-9]{1,4}=[a-z0-9]{0,8}", Just(String::new())],
                                                        at in 0usize..3) {
            let s = Signature { timestamp: t, mac };
            let mut parts = vec![format!("t={t}"), format!("v1={}", hex::encode(mac))];
            parts.insert(at.min(parts.len()), extra);
            let header = parts.join(",");
            prop_assert_eq!(Signature::parse(&header), Err(SignatureError::Malformed), "{}", header);
            let _ = s;
        }
    }
}
