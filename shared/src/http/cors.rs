//! CORS for browsers calling the functions the way `supabase.functions.invoke` does.
use crate::config::Origins;

pub const ALLOW_HEADERS: &str = "authorization, x-client-info, apikey, content-type, idempotency-key";
pub const EXPOSE_HEADERS: &str = "x-request-id, retry-after";

/// The `Access-Control-Allow-Origin` value for this request, if the origin may call us.
pub fn allowed_origin(origins: &Origins, request_origin: Option<&str>) -> Option<String> {
    match origins {
        Origins::Any => Some("*".into()),
        Origins::List(list) => {
            let origin = request_origin?.trim_end_matches('/');
            list.iter().any(|o| o == origin).then(|| origin.to_string())
        }
    }
}

/// Headers every response carries (errors included): `fixed_headers` and the echoed
/// origin, as the tests check them (`serve` sends the two parts separately).
#[cfg(test)]
pub fn response_headers(origins: &Origins, request_origin: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers: Vec<(&'static str, String)> = fixed_headers(origins).iter().map(|(k, v)| (*k, v.to_string())).collect();
    if let Some(origin) = echoed_origin(origins, request_origin) {
        headers.push(("Access-Control-Allow-Origin", origin));
    }
    headers
}

/// The part of `response_headers` that depends only on the configuration (`serve` keeps
/// it in a template per isolate).
pub fn fixed_headers(origins: &Origins) -> [(&'static str, &'static str); 3] {
    let third = match origins {
        Origins::Any => ("Access-Control-Allow-Origin", "*"),
        Origins::List(_) => ("Vary", "Origin"),
    };
    [("Access-Control-Allow-Headers", ALLOW_HEADERS), ("Access-Control-Expose-Headers", EXPOSE_HEADERS), third]
}

/// The part that depends on the request: a listed origin, echoed.
pub fn echoed_origin(origins: &Origins, request_origin: Option<&str>) -> Option<String> {
    match origins {
        Origins::Any => None,
        Origins::List(_) => allowed_origin(origins, request_origin),
    }
}

/// The `Allow` / `Access-Control-Allow-Methods` value: the function's methods and OPTIONS.
pub fn allow_methods(methods: &[worker::Method]) -> String {
    let mut names: Vec<String> = methods.iter().map(|m| m.to_string()).collect();
    names.push("OPTIONS".into());
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_origin_is_echoed_and_others_are_not() {
        let o = Origins::parse("http://localhost:3000");
        assert_eq!(allowed_origin(&o, Some("http://localhost:3000")).as_deref(), Some("http://localhost:3000"));
        assert_eq!(allowed_origin(&o, Some("https://evil.example")), None);
        assert_eq!(allowed_origin(&o, None), None);
        assert_eq!(allowed_origin(&Origins::Any, Some("https://x")).as_deref(), Some("*"));
    }

    #[test]
    fn methods_include_options() {
        assert_eq!(allow_methods(&[worker::Method::Get, worker::Method::Patch]), "GET, PATCH, OPTIONS");
    }
}
