//! `add-credits` (API.md §4): an operator adds credits to an account. The route is
//! `service =>` (the service-role key only; a user's token is 403), and the SQL function
//! is granted to the service role only, so /rpc cannot skip it either. The balance and
//! its `credit` billing record are written in one transaction (one round trip).
use crate::db::{self, Db, Who};
use crate::domain::{CreditCents, Id, Memo};
use crate::error::ApiError;
use crate::http::{Call, Reply};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AddCredits {
    user_id: Id,
    amount_cents: CreditCents,
    description: Memo,
}

/// `add-credits`: 201 with the `BillingRecord`.
pub async fn add(mut call: Call) -> Result<Reply, ApiError> {
    let body: AddCredits = call.json().await?;
    let args = db::AddCredits {
        user_id: body.user_id.uuid(),
        amount_cents: body.amount_cents.cents(),
        description: body.description.as_ref().to_string(),
    };
    let credited = Db::new(&call.config).rpc(&args, Who::Service).await?;
    let message = format!("Added {} cents; the balance is {} cents", args.amount_cents, credited.balance_cents);
    Ok(Reply::created(credited.record).message(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::field_of as field;
    use crate::http::parse_json;

    #[test]
    fn bodies_name_their_bad_field() {
        let err = |body: &str| field(parse_json::<AddCredits>(body.as_bytes()).err().unwrap());
        let id = "6e603a27-0dc1-484d-a15e-5a13e402ded0";
        assert_eq!(err("{}"), "userId");
        assert_eq!(err(r#"{"userId":"x","amountCents":1,"description":"d"}"#), "userId");
        for amount in ["0", "-5", "10000001", "2.5", "\"100\"", "null"] {
            assert_eq!(err(&format!(r#"{{"userId":"{id}","amountCents":{amount},"description":"d"}}"#)), "amountCents", "{amount}");
        }
        assert_eq!(err(&format!(r#"{{"userId":"{id}","amountCents":5,"description":""}}"#)), "description");
        assert_eq!(err(&format!(r#"{{"userId":"{id}","amountCents":5,"description":"{}"}}"#, "x".repeat(201))), "description");
        assert_eq!(err(&format!(r#"{{"userId":"{id}","amountCents":5,"description":"d","kind":"charge"}}"#)), "kind");
        let ok = parse_json::<AddCredits>(format!(r#"{{"userId":"{id}","amountCents":10000000,"description":" Welcome "}}"#).as_bytes()).ok().unwrap();
        assert_eq!((ok.amount_cents.cents(), ok.description.as_ref()), (10_000_000, "Welcome"));
    }
}
