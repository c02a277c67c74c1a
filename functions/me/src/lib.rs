//! GET, PATCH /functions/v1/me — the caller's account.
use shared::prelude::*;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let route = Route { name: "me", methods: &[Method::Get, Method::Patch] };
    serve(req, env, ctx, route, |call: Call| async move {
        match call.method() {
            Method::Patch => shared::account::update_me(call).await,
            _ => shared::account::me(call).await,
        }
    })
    .await
}
