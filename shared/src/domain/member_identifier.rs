//! Who to add to a team (`teams/{id}/members` POST): an account id, or the identifier an
//! account signed in with (an email or a wallet address), which the database matches
//! case-insensitively. Trimmed, 1–320 characters (the longest email), no control
//! characters or spaces inside; whether such an account exists is the database's answer.
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct MemberIdentifier(String);

impl MemberIdentifier {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let id = raw.trim();
        if id.is_empty() || id.chars().count() > 320 {
            return Err("must be an email, a wallet address or an account id (1 to 320 characters)".into());
        }
        if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("must not contain spaces or control characters".into());
        }
        Ok(MemberIdentifier(id.to_string()))
    }
}

super::string_type!(MemberIdentifier);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_wallets_and_ids() {
        assert_eq!(MemberIdentifier::parse(" Ann@Example.com ").unwrap().as_ref(), "Ann@Example.com");
        assert!(MemberIdentifier::parse("0x52908400098527886E0F7030069857D2E4169EE7").is_ok());
        assert!(MemberIdentifier::parse("6e603a27-0dc1-484d-a15e-5a13e402ded0").is_ok());
    }

    #[test]
    fn refused() {
        for bad in ["", "  ", "a b@example.com", "a\nb", &"x".repeat(321)] {
            assert!(MemberIdentifier::parse(bad).is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<MemberIdentifier>("7").is_err());
    }
}
