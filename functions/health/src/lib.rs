//! GET /functions/v1/health — database and runner reachability, no auth.
use shared::prelude::*;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let route = Route { name: "health", methods: &[Method::Get] };
    serve(req, env, ctx, route, shared::health::check).await
}
