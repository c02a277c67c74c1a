//! POST /functions/v1/exchange — a Privy access token (and identity token) for a session.
use shared::prelude::*;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let route = Route { name: "exchange", methods: &[Method::Post] };
    serve(req, env, ctx, route, shared::account::exchange).await
}
