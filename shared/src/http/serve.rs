//! The request pipeline every function runs: request id, CORS preflight, method check,
//! configuration, the handler, the envelope, and the log line. Nothing escapes as a panic
//! or an upstream body: every outcome becomes an envelope here.
use crate::clock;
use crate::config::{Config, Origins};
use crate::error::ApiError;
use crate::http::{cors, envelope, rate_limit, Call, Reply};
use crate::log;
use std::future::Future;
use worker::web_sys;
use worker::{Context, Env, Method, Request, Response, ResponseBuilder};

/// A function's name (its URL segment), the methods it answers, and whether it takes a
/// sub-path (`instances/{id}`); any other function answers 404 to `<name>/…`.
pub struct Route {
    pub name: &'static str,
    pub methods: &'static [Method],
    pub sub_paths: bool,
}

impl Route {
    /// A POST to a function that reads (GET) and has no POST of its own is that read, with
    /// the query's fields in a JSON body (API.md §1): `supabase.functions.invoke` sends POST.
    fn reads_over_post(&self, method: &Method) -> bool {
        *method == Method::Post && self.methods.contains(&Method::Get) && !self.methods.contains(&Method::Post)
    }

    /// The methods `Allow` lists: the route's, and POST where it is a read.
    fn answered_methods(&self) -> Vec<Method> {
        let mut methods = self.methods.to_vec();
        if self.reads_over_post(&Method::Post) {
            methods.push(Method::Post);
        }
        methods
    }
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
    // worker::Method reads any method it does not know (PROPFIND, QUERY…) as GET.
    #[cfg(target_arch = "wasm32")]
    let known_method = req.inner().method() == method.as_ref();
    #[cfg(not(target_arch = "wasm32"))]
    let known_method = true;
    let read_over_post = route.reads_over_post(&method);
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let request_id = header("cf-ray").filter(|v| !v.is_empty()).unwrap_or_else(new_request_id);
    let origin = header("origin");
    let path = req.path();
    let sub_path = sub_path_of(&path);

    let config = Config::cached(&env);
    // CORS needs the allowed origins even when the rest of the configuration is broken.
    let no_origins = Origins::List(vec![]);
    let origins = config.as_ref().map_or(&no_origins, |c| &c.allowed_origins);
    let allow = cors::allow_methods(&route.answered_methods());

    let outcome: Result<Reply, ApiError> = if !serves_path(&path, route.name) {
        // Routes are prefixes (`*/functions/v1/me*` also matches `/functions/v1/metrics`).
        Err(ApiError::NotFound("No such function".into()))
    } else if method == Method::Options {
        match (&origin, cors::allowed_origin(origins, origin.as_deref())) {
            (Some(_), None) => Err(ApiError::Forbidden("Origin not allowed".into())),
            _ => Ok(Reply::with_status(204, ())),
        }
    } else if !route.sub_paths && !sub_path.is_empty() {
        Err(ApiError::NotFound("No such function".into()))
    } else if !known_method || !(route.methods.contains(&method) || read_over_post) {
        Err(ApiError::MethodNotAllowed { allow: allow.clone() })
    } else {
        match &config {
            Err(e) => Err(e.clone()),
            Ok(config) => {
                // Verified once: the rate limit counts per user, the handler reuses it.
                let authorization = header("authorization");
                let bearer = crate::auth::bearer_token(authorization.as_deref());
                let verified = bearer.is_some().then(|| crate::auth::verify_caller(bearer, config.jwt_secret.expose()));
                let user = verified.as_ref().and_then(|v| v.as_ref().ok()).map(|c| c.claims.sub);
                let key = rate_limit::route_key(route.name, user, authorization.as_deref(), header("cf-connecting-ip").as_deref());
                let test_panic = config.test_panic && header("x-hangar-test-panic").is_some();
                match rate_limit::check(&env, &config.rate_limit_bindings, &key, method == Method::Post).await {
                    Err(e) => Err(e),
                    Ok(()) => {
                        let call = Call { req, ctx, config: config.share(), request_id: request_id.clone(), sub_path, verified, read: None };
                        if test_panic {
                            // Test stack only (HANGAR_TEST_PANIC=1): what does a panic answer?
                            panic!("test-only panic inside a handler");
                        }
                        if read_over_post {
                            read_over_post_call(call, handler).await
                        } else {
                            handler(call).await
                        }
                    }
                }
            }
        }
    };

    // The body as text: the reply's data is JSON already (reply.rs).
    let (status, body, err) = match outcome {
        Ok(reply) if reply.status == 204 => (204, None, None),
        Ok(Reply { status, data: Ok(data), message, failure: None, next_cursor }) => {
            (status, Some(envelope::success(&data, message.as_deref(), next_cursor.as_ref().map(Option::as_deref))), None)
        }
        Ok(Reply { data: Ok(data), failure: Some(err), .. }) => {
            (err.status(), Some(envelope::error(&err, &request_id, Some(&data))), Some(err))
        }
        Ok(Reply { data: Err(e), .. }) => {
            let err = ApiError::Internal(format!("serialize reply: {e}"));
            (500, Some(envelope::error(&err, &request_id, None)), Some(err))
        }
        Err(err) => (err.status(), Some(envelope::error(&err, &request_id, None)), Some(err)),
    };

    let with_methods = method == Method::Options || matches!(err, Some(ApiError::MethodNotAllowed { .. }));
    let headers = headers_from_template(origins, &allow, with_methods, body.is_some())?;
    headers.set("x-request-id", &request_id)?;
    if let Some(origin) = cors::echoed_origin(origins, origin.as_deref()) {
        headers.set("Access-Control-Allow-Origin", &origin)?;
    }
    if let Some(ApiError::RateLimited { retry_after_secs }) = &err {
        headers.set("Retry-After", &retry_after_secs.to_string())?;
    }

    // One string, written field by field, keys in the order the `Value` it replaces
    // printed them (log.rs).
    let mut line = log::Object::new();
    line.field("duration_ms", &(clock::now_millis() - started));
    if let Some(err) = &err {
        if let Some(detail) = err.internal_detail() {
            line.field("error", &detail);
        }
        line.field("error_code", err.code());
    }
    line.field("function", route.name)
        .field("level", if status >= 500 { "error" } else { "info" })
        .field("method", method.as_ref())
        .field("path", &path)
        .field("request_id", &request_id)
        .field("status", &status);
    log::emit(&line.finish());

    // Not `Response::from_bytes`, which sets a content-type on a Headers object of its own
    // that `with_headers` would then drop.
    let response = ResponseBuilder::new().with_status(status).with_headers(worker::Headers(headers));
    Ok(match body {
        None => response.empty(),
        Some(body) => response.fixed(body.into_bytes()),
    })
}

/// A new response's headers: a copy of this isolate's template for its kind, which holds
/// every header that depends only on the configuration and the route (CORS, `Allow`,
/// content-type). One `new Headers(template)` per response instead of a call per header,
/// each passing its name and value across (`make bench`). The configuration is read once
/// per isolate and a Worker serves one route, so a template never goes stale; templates
/// are copied, never changed.
fn headers_from_template(origins: &Origins, allow: &str, with_methods: bool, json: bool) -> worker::Result<web_sys::Headers> {
    thread_local!(static TEMPLATES: [std::cell::OnceCell<web_sys::Headers>; 8] = Default::default());
    let kind = usize::from(matches!(origins, Origins::Any)) | usize::from(with_methods) << 1 | usize::from(json) << 2;
    TEMPLATES.with(|templates| {
        if templates[kind].get().is_none() {
            let template = web_sys::Headers::new()?;
            for (name, value) in cors::fixed_headers(origins) {
                template.set(name, value)?;
            }
            if with_methods {
                template.set("Access-Control-Allow-Methods", allow)?;
                template.set("Allow", allow)?;
                template.set("Access-Control-Max-Age", "86400")?;
            }
            if json {
                template.set("content-type", "application/json; charset=utf-8")?;
            }
            let _ = templates[kind].set(template);
        }
        Ok(web_sys::Headers::new_with_headers(templates[kind].get().expect("set above"))?)
    })
}

/// A v4 UUID for a request without `cf-ray` (Cloudflare sets it on every request; the
/// local stack does not). The random bytes are drawn 64 ids at a time: a call out to
/// `crypto.getRandomValues` per id was measurable in `make bench`.
fn new_request_id() -> String {
    const IDS: usize = 64;
    thread_local!(static POOL: std::cell::RefCell<(Vec<u8>, usize)> = const { std::cell::RefCell::new((Vec::new(), 0)) });
    let bytes: Option<[u8; 16]> = POOL.with(|pool| {
        let (buf, used) = &mut *pool.borrow_mut();
        if *used + 16 > buf.len() {
            buf.resize(16 * IDS, 0);
            if getrandom::getrandom(buf).is_err() {
                *used = buf.len();
                return None;
            }
            *used = 0;
        }
        let bytes = buf[*used..*used + 16].try_into().ok();
        *used += 16;
        bytes
    });
    let uuid = bytes.map_or_else(uuid::Uuid::new_v4, |b| uuid::Builder::from_random_bytes(b).into_uuid());
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid.hyphenated().encode_lower(&mut text).to_string()
}

/// A read sent as POST: its body's fields stand for the query's (`Call::query`), and a
/// field the read never looked at is refused by name, as an unknown query field of a body
/// would be. A read changes nothing, so refusing after it ran loses nothing.
async fn read_over_post_call<F, Fut>(mut call: Call, handler: F) -> Result<Reply, ApiError>
where
    F: FnOnce(Call) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let asked = call.read_from_body().await?;
    let reply = handler(call).await?;
    match asked.unasked() {
        Some(field) => Err(ApiError::validation(&field, format!("`{field}` is not a field of this read"))),
        None => Ok(reply),
    }
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
    fn request_ids_are_v4_uuids_and_differ() {
        // More than one draw of the pool (64 ids).
        let ids: Vec<String> = (0..200).map(|_| new_request_id()).collect();
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 4, "{id}");
            assert_eq!(id, &uuid.hyphenated().to_string());
        }
        assert_eq!(ids.iter().collect::<std::collections::HashSet<_>>().len(), ids.len());
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
/// shared::function!("projects" / {id}, [Get, Post, Patch, Delete], user => shared::api::projects::projects);
/// shared::function!("exchange", [Post], public => shared::api::account::exchange);
/// shared::function!("scheduler", [Post], service => shared::api::runner::tick,
///     cron => shared::api::runner::cron);
/// ```
/// `public` handlers take the `Call`; `user` handlers also the verified `Caller` (no valid
/// session: 401 before the handler runs); `service` handlers run only for the
/// service-role key. `Allow` and CORS methods come from the method list. `/ {id}`: the
/// function takes sub-paths (`Call::sub_path`); without it, `<name>/…` is 404.
#[macro_export]
macro_rules! function {
    ($name:literal / {id}, $($rest:tt)+) => {
        $crate::function!(@auth $name, true, $($rest)+);
    };
    ($name:literal, $($rest:tt)+) => {
        $crate::function!(@auth $name, false, $($rest)+);
    };
    (@auth $name:literal, $sub:literal, [$($method:ident),+], public => $handler:expr $(, cron => $cron:expr)?) => {
        $crate::function!(@entry $name, $sub, [$($method),+], |call: $crate::Call| $handler(call) $(, $cron)?);
    };
    (@auth $name:literal, $sub:literal, [$($method:ident),+], user => $handler:expr $(, cron => $cron:expr)?) => {
        $crate::function!(@entry $name, $sub, [$($method),+], |call: $crate::Call| async move {
            let caller = call.caller()?;
            $handler(call, caller).await
        } $(, $cron)?);
    };
    (@auth $name:literal, $sub:literal, [$($method:ident),+], service => $handler:expr $(, cron => $cron:expr)?) => {
        $crate::function!(@entry $name, $sub, [$($method),+], |call: $crate::Call| async move {
            call.require_service_role()?;
            $handler(call).await
        } $(, $cron)?);
    };
    (@entry $name:literal, $sub:literal, [$($method:ident),+], $handler:expr $(, $cron:expr)?) => {
        #[$crate::__function::event(fetch)]
        async fn fetch(
            req: $crate::__function::Request,
            env: $crate::__function::Env,
            ctx: $crate::__function::Context,
        ) -> ::worker::Result<$crate::__function::Response> {
            let route = $crate::__function::Route { name: $name, methods: &[$($crate::__function::Method::$method),+], sub_paths: $sub };
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
