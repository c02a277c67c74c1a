//! The request pipeline every function runs: request id, CORS preflight, method check,
//! configuration, the handler, the envelope, and the log line. Nothing escapes as a panic
//! or an upstream body: every outcome becomes an envelope here.
use crate::clock;
use crate::config::Config;
use crate::error::ApiError;
use crate::http::{cors, envelope, rate_limit, Call, Reply};
use crate::log;
use serde_json::{json, Value};
use std::future::Future;
use worker::{Context, Env, Headers, Method, Request, Response};

/// A function's name (its URL segment) and the methods it answers.
pub struct Route {
    pub name: &'static str,
    pub methods: &'static [Method],
}

pub async fn serve<F, Fut>(req: Request, env: Env, ctx: Context, route: Route, handler: F) -> worker::Result<Response>
where
    F: FnOnce(Call) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    // A panic's message and stack reach the Worker's log (the response is
    // scripts/worker-entry.js's envelope: a wasm trap ends this request's Rust code).
    static PANIC_HOOK: std::sync::Once = std::sync::Once::new();
    PANIC_HOOK.call_once(|| std::panic::set_hook(Box::new(on_panic)));
    let started = clock::now_millis();
    let method = req.method();
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let request_id = header("cf-ray").filter(|v| !v.is_empty()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let origin = header("origin");
    let path = req.path();
    let sub_path = sub_path_of(&path);

    let config = Config::cached(&env);
    // CORS needs the allowed origins even when the rest of the configuration is broken.
    let origins = config
        .as_ref()
        .map(|c| c.allowed_origins.clone())
        .unwrap_or(crate::config::Origins::List(vec![]));
    let allow = cors::allow_methods(route.methods);

    let outcome: Result<Reply, ApiError> = if !serves_path(&path, route.name) {
        // Routes are prefixes (`*/functions/v1/me*` also matches `/functions/v1/metrics`).
        Err(ApiError::NotFound("No such function".into()))
    } else if method == Method::Options {
        match (&origin, cors::allowed_origin(&origins, origin.as_deref())) {
            (Some(_), None) => Err(ApiError::Forbidden("Origin not allowed".into())),
            _ => Ok(Reply::with_status(204, Value::Null)),
        }
    } else if !route.methods.contains(&method) {
        Err(ApiError::MethodNotAllowed { allow: allow.clone() })
    } else {
        match config {
            Err(e) => Err(e),
            Ok(config) => {
                // Verified once: the rate limit counts per user, the handler reuses it.
                let bearer = crate::auth::bearer_token(header("authorization").as_deref());
                let verified = bearer.is_some().then(|| crate::auth::verify_caller(bearer, config.jwt_secret.expose()));
                let user = verified.as_ref().and_then(|v| v.as_ref().ok()).map(|c| c.claims.sub);
                let key = rate_limit::key(user, header("cf-connecting-ip").as_deref());
                let test_panic = config.test_panic && header("x-hangar-test-panic").is_some();
                match rate_limit::check(&env, &key, method == Method::Post).await {
                    Err(e) => Err(e),
                    Ok(()) => {
                        let call = Call { req, ctx, config, request_id: request_id.clone(), sub_path, verified };
                        if test_panic {
                            // Test stack only (HANGAR_TEST_PANIC=1): what does a panic answer?
                            panic!("test-only panic inside a handler");
                        }
                        handler(call).await
                    }
                }
            }
        }
    };

    let (status, body, err) = match outcome {
        Ok(reply) if reply.status == 204 => (204, None, None),
        Ok(Reply { status, data: Ok(data), message, failure: None }) => {
            (status, Some(envelope::success(data, message.as_deref())), None)
        }
        Ok(Reply { data: Ok(data), failure: Some(err), .. }) => {
            let mut body = envelope::error(&err, &request_id);
            body["data"] = data;
            (err.status(), Some(body), Some(err))
        }
        Ok(Reply { data: Err(e), .. }) => {
            let err = ApiError::Internal(format!("serialize reply: {e}"));
            (500, Some(envelope::error(&err, &request_id)), Some(err))
        }
        Err(err) => (err.status(), Some(envelope::error(&err, &request_id)), Some(err)),
    };

    let headers = Headers::new();
    for (name, value) in cors::response_headers(&origins, origin.as_deref()) {
        headers.set(name, &value)?;
    }
    headers.set("x-request-id", &request_id)?;
    if method == Method::Options || matches!(err, Some(ApiError::MethodNotAllowed { .. })) {
        headers.set("Access-Control-Allow-Methods", &allow)?;
        headers.set("Allow", &allow)?;
        headers.set("Access-Control-Max-Age", "86400")?;
    }
    if let Some(ApiError::RateLimited { retry_after_secs }) = &err {
        headers.set("Retry-After", &retry_after_secs.to_string())?;
    }

    let mut log_line = json!({
        "level": if status >= 500 { "error" } else { "info" },
        "request_id": request_id,
        "function": route.name,
        "method": method.to_string(),
        "path": path,
        "status": status,
        "duration_ms": clock::now_millis() - started,
    });
    if let Some(err) = &err {
        log_line["error_code"] = Value::String(err.code().into());
        if let Some(detail) = err.internal_detail() {
            log_line["error"] = Value::String(detail);
        }
    }
    log::line(&log_line);

    let response = match body {
        None => Response::empty()?,
        Some(body) => {
            headers.set("content-type", "application/json; charset=utf-8")?;
            Response::from_bytes(body.to_string().into_bytes())?
        }
    };
    Ok(response.with_status(status).with_headers(headers))
}

/// Logs the panic, then tells the Worker's entry (scripts/worker-entry.js) at once: the
/// trap that follows happens inside a promise callback, so the request would otherwise
/// never settle.
fn on_panic(info: &std::panic::PanicHookInfo) {
    console_error_panic_hook::hook(info);
    #[cfg(target_arch = "wasm32")]
    {
        let global = js_sys::global();
        if let Ok(notify) = js_sys::Reflect::get(&global, &"__hangarPanicked".into()) {
            if let Some(notify) = wasm_bindgen_function(notify) {
                let _ = notify.call0(&global);
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn wasm_bindgen_function(v: worker::wasm_bindgen::JsValue) -> Option<js_sys::Function> {
    use worker::wasm_bindgen::JsCast;
    v.dyn_into::<js_sys::Function>().ok()
}

/// Other names a function answers to (URLs frontends already use).
const ALIASES: &[(&str, &str)] = &[("get-recent-logs", "get-logs")];

/// Whether `/functions/v1/<segment>[/…]` names this function (or an alias of it).
/// A path outside `/functions/v1/` (a workers.dev URL) is served as is.
fn serves_path(path: &str, name: &str) -> bool {
    let Some(rest) = path.strip_prefix("/functions/v1/") else {
        return true;
    };
    let segment = rest.split('/').next().unwrap_or("");
    segment == name || ALIASES.iter().any(|(alias, target)| *alias == segment && *target == name)
}

/// `/functions/v1/instances/abc` → `["abc"]`: the segments after the function's name
/// (or alias, which `serves_path` has checked).
fn sub_path_of(path: &str) -> Vec<String> {
    let rest = path.trim_start_matches('/');
    let rest = rest.strip_prefix("functions/v1/").unwrap_or(rest);
    rest.split('/')
        .skip(1)
        .filter(|s| !s.is_empty())
        .map(|s| s.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_own_paths_are_served() {
        assert!(serves_path("/functions/v1/me", "me"));
        assert!(serves_path("/functions/v1/instances/abc", "instances"));
        assert!(!serves_path("/functions/v1/metrics-something", "me"));
        assert!(serves_path("/functions/v1/get-recent-logs", "get-logs"));
        assert!(!serves_path("/functions/v1/get-recent-logs", "me"));
        assert!(serves_path("/", "health"));
    }

    #[test]
    fn sub_paths() {
        assert_eq!(sub_path_of("/functions/v1/instances/abc"), vec!["abc"]);
        assert!(sub_path_of("/functions/v1/me").is_empty());
        assert!(sub_path_of("/functions/v1/me/").is_empty());
    }
}

/// Declares a function's Worker: its route name, methods, who may call it, its handler.
///
/// ```ignore
/// shared::function!("me", [Get, Patch], user => shared::api::account::me);
/// shared::function!("exchange", [Post], public => shared::api::account::exchange);
/// shared::function!("scheduler", [Post], service => shared::api::runner::tick,
///     cron => shared::api::runner::cron);
/// ```
/// `public` handlers take the `Call`; `user` handlers also the verified `Caller` (no valid
/// session: 401 before the handler runs); `service` handlers run only for the
/// service-role key. `Allow` and CORS methods come from the method list.
#[macro_export]
macro_rules! function {
    ($name:literal, [$($method:ident),+], public => $handler:expr $(, cron => $cron:expr)?) => {
        $crate::function!(@entry $name, [$($method),+], |call: $crate::Call| $handler(call) $(, $cron)?);
    };
    ($name:literal, [$($method:ident),+], user => $handler:expr $(, cron => $cron:expr)?) => {
        $crate::function!(@entry $name, [$($method),+], |call: $crate::Call| async move {
            let caller = call.caller()?;
            $handler(call, caller).await
        } $(, $cron)?);
    };
    ($name:literal, [$($method:ident),+], service => $handler:expr $(, cron => $cron:expr)?) => {
        $crate::function!(@entry $name, [$($method),+], |call: $crate::Call| async move {
            call.require_service_role()?;
            $handler(call).await
        } $(, $cron)?);
    };
    (@entry $name:literal, [$($method:ident),+], $handler:expr $(, $cron:expr)?) => {
        #[$crate::__function::event(fetch)]
        async fn fetch(
            req: $crate::__function::Request,
            env: $crate::__function::Env,
            ctx: $crate::__function::Context,
        ) -> ::worker::Result<$crate::__function::Response> {
            let route = $crate::__function::Route { name: $name, methods: &[$($crate::__function::Method::$method),+] };
            $crate::__function::serve(req, env, ctx, route, $handler).await
        }
        $(
            #[$crate::__function::event(scheduled)]
            async fn scheduled(
                _event: $crate::__function::ScheduledEvent,
                env: $crate::__function::Env,
                _ctx: $crate::__function::ScheduleContext,
            ) {
                $cron(env).await
            }
        )?
    };
}
