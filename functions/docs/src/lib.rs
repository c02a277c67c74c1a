//! GET /functions/v1/docs — the OpenAPI document of every function (JSON), or a page that
//! renders it (HTML), no auth. Not `shared::function!`: its answer is a file, not an
//! envelope, so shared::api::docs::fetch wraps the pipeline itself.
#[worker::event(fetch)]
async fn fetch(req: worker::Request, env: worker::Env, ctx: worker::Context) -> worker::Result<worker::Response> {
    shared::api::docs::fetch(req, env, ctx).await
}
