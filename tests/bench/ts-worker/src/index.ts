// The TypeScript comparison Worker of `make bench`: `get-machine-status` and
// `start-machine` written the way a Supabase Edge Function usually is — supabase-js
// created per request with the caller's token (RLS applies), jose for the session check,
// the same envelope, CORS headers, request id and JSON log line as the Rust Workers.
// Bundled with esbuild (tests/bench/ts-worker/build.mjs); never deployed.
import { createClient } from "@supabase/supabase-js";
import { errors, jwtVerify } from "jose";

interface Env {
  SUPABASE_URL: string;
  SUPABASE_ANON_KEY: string;
  SUPABASE_JWT_SECRET: string;
}

const corsHeaders: Record<string, string> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Headers": "authorization, x-client-info, apikey, content-type, idempotency-key",
  "Access-Control-Expose-Headers": "x-request-id, retry-after",
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

// The SQL functions answer an outcome: {ok: true, data} or {ok: false, error, message, details}.
interface Outcome {
  ok: boolean;
  data?: any;
  error?: string;
  message?: string;
  details?: any;
}

function refusal(o: Outcome): HttpError {
  const message = o.message ?? "";
  switch (o.error) {
    case "not_found":
      return new HttpError(404, "not_found", message || "Not found");
    case "forbidden":
      return new HttpError(403, "forbidden", message);
    case "invalid_state_transition":
      return new HttpError(409, "invalid_state_transition", message, o.details);
    case "validation_error":
      return new HttpError(400, "validation_error", message, { field: o.details?.field ?? "body" });
    default:
      return new HttpError(500, "internal_error", "Internal error");
  }
}

async function rpc(env: Env, authHeader: string, fn: string, args: Record<string, unknown>) {
  const supabase = createClient(env.SUPABASE_URL, env.SUPABASE_ANON_KEY, {
    global: { headers: { Authorization: authHeader } },
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
  const { data, error, status } = await supabase.rpc(fn, args);
  if (error) {
    throw new HttpError(status >= 502 && status <= 504 ? 503 : 502, "upstream_error", "The database gave an unexpected answer");
  }
  const outcome = data as Outcome;
  if (!outcome?.ok) throw refusal(outcome ?? { ok: false });
  return outcome.data;
}

async function handle(req: Request, env: Env, fn: string): Promise<[number, unknown, string?]> {
  const authHeader = req.headers.get("Authorization");
  if (!authHeader?.startsWith("Bearer ")) throw new HttpError(401, "unauthorized", "Missing bearer token");
  try {
    const { payload } = await jwtVerify(authHeader.slice(7), new TextEncoder().encode(env.SUPABASE_JWT_SECRET), {
      algorithms: ["HS256"],
      audience: "authenticated",
    });
    if (payload.role !== "authenticated" || typeof payload.sub !== "string") throw new Error("role");
  } catch (e) {
    if (e instanceof errors.JWTExpired) throw new HttpError(401, "token_expired", "Token expired");
    throw new HttpError(401, "invalid_token", "Invalid token");
  }

  if (fn === "get-machine-status") {
    if (req.method !== "GET") throw new HttpError(405, "method_not_allowed", "Method not allowed");
    const machineId = new URL(req.url).searchParams.get("machineId");
    if (!machineId || !UUID.test(machineId)) {
      throw new HttpError(400, "validation_error", "`machineId` must be a UUID", { field: "machineId" });
    }
    return [200, await rpc(env, authHeader, "hangar_get_machine", { p_machine_id: machineId })];
  }
  if (fn === "start-machine") {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Method not allowed");
    let body: any;
    try {
      body = await req.json();
    } catch {
      throw new HttpError(400, "invalid_json", "Body is not valid JSON");
    }
    if (typeof body?.machineId !== "string" || !UUID.test(body.machineId)) {
      throw new HttpError(400, "validation_error", "`machineId` must be a UUID", { field: "machineId" });
    }
    const t = await rpc(env, authHeader, "hangar_machine_action", { p_machine_id: body.machineId, p_action: "start" });
    return [t.changed ? 202 : 200, t.machine, `Machine is ${t.machine?.status ?? ""}`];
  }
  throw new HttpError(404, "not_found", "No such function");
}

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const started = Date.now();
    const requestId = req.headers.get("cf-ray") || crypto.randomUUID();
    const path = new URL(req.url).pathname;
    const fn = path.split("/")[3] ?? "";
    const headers = { ...corsHeaders, "x-request-id": requestId, "content-type": "application/json; charset=utf-8" };
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers });

    let status: number;
    let body: unknown;
    let errorCode: string | undefined;
    try {
      const [s, data, message] = await handle(req, env, fn);
      status = s;
      body = message ? { success: true, data, message } : { success: true, data };
    } catch (e) {
      const err = e instanceof HttpError ? e : new HttpError(500, "internal_error", "Internal error");
      status = err.status;
      errorCode = err.code;
      body = {
        success: false,
        error_code: err.code,
        message: err.message,
        timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
        request_id: requestId,
        ...(err.details ? { details: err.details } : {}),
      };
    }
    console.log(JSON.stringify({
      level: status >= 500 ? "error" : "info",
      request_id: requestId,
      function: fn,
      method: req.method,
      path,
      status,
      duration_ms: Date.now() - started,
      ...(errorCode ? { error_code: errorCode } : {}),
    }));
    return new Response(JSON.stringify(body), { status, headers });
  },
};
