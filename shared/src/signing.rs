//! Webhook signatures between the Workers and the runner (API.md §5):
//! `Hangar-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const HEADER: &str = "Hangar-Signature";
/// How old a signature may be before it is refused (seconds).
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    Stale,
    Mismatch,
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` signed at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(digest))
}

/// Checks a header value against `body` at time `now` (unix seconds). Several `v1`
/// entries are allowed (secret rotation); one match suffices. Comparison is constant-time.
pub fn verify(secret: &str, header: Option<&str>, body: &[u8], now: i64) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, timestamp, body).finalize().into_bytes();
    if candidates.iter().any(|c| c.len() == expected.len() && bool::from(c.as_slice().ct_eq(&expected[..]))) {
        Ok(timestamp)
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = sign("s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(h.starts_with("t=1700000000,v1="));
        assert_eq!(verify("s3cret", Some(&h), b"{\"a\":1}", 1_700_000_100), Ok(1_700_000_000));
    }

    #[test]
    fn refusals() {
        let h = sign("s3cret", 1_700_000_000, b"body");
        assert_eq!(verify("other", Some(&h), b"body", 1_700_000_000), Err(SignatureError::Mismatch));
        assert_eq!(verify("s3cret", Some(&h), b"body!", 1_700_000_000), Err(SignatureError::Mismatch));
        assert_eq!(verify("s3cret", Some(&h), b"body", 1_700_000_301), Err(SignatureError::Stale));
        assert_eq!(verify("s3cret", None, b"body", 0), Err(SignatureError::Missing));
        assert_eq!(verify("s3cret", Some("t=1,v1=zz"), b"body", 1), Err(SignatureError::Malformed));
        assert_eq!(verify("s3cret", Some("v1=00"), b"body", 1), Err(SignatureError::Malformed));
    }

    #[test]
    fn rotation_accepts_any_listed_signature() {
        let good = sign("s3cret", 100, b"x");
        let v1 = good.split("v1=").nth(1).unwrap();
        let header = format!("t=100,v1={},v1={v1}", "00".repeat(32));
        assert_eq!(verify("s3cret", Some(&header), b"x", 100), Ok(100));
    }
}
