//! POST /functions/v1/logout — revoke the caller's refresh family.
use shared::prelude::*;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let route = Route { name: "logout", methods: &[Method::Post] };
    serve(req, env, ctx, route, shared::account::logout).await
}
