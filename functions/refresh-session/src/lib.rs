//! POST /functions/v1/refresh-session — rotate a refresh token for a new session.
use shared::prelude::*;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let route = Route { name: "refresh-session", methods: &[Method::Post] };
    serve(req, env, ctx, route, shared::account::refresh_session).await
}
