// Every call goes through supabase-js `functions.invoke`, as the seeds' frontends make
// them; the envelope is unwrapped here, once: data on success, an ApiError otherwise.
import { createClient, FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import type { Config } from "../config";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
  /** The request field the error names (details.field), e.g. "name" or "protocolConfig.name". */
  get field(): string | undefined {
    const f = this.details.field;
    return typeof f === "string" ? f : undefined;
  }
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
export interface Api {
  call<T>(name: string, opts?: { method?: Method; body?: unknown; query?: Record<string, string | number | boolean | undefined> }): Promise<T>;
}

export function makeApi(config: Config, token: () => Promise<string | null>): Api {
  const client: SupabaseClient = createClient(config.functionsUrl, config.anonKey, {
    accessToken: async () => (await token()) ?? config.anonKey,
  });
  return {
    async call<T>(name: string, opts: { method?: Method; body?: unknown; query?: Record<string, string | number | boolean | undefined> } = {}) {
      const q = Object.entries(opts.query ?? {}).filter(([, v]) => v !== undefined && v !== "");
      const path = q.length ? `${name}?${new URLSearchParams(q.map(([k, v]) => [k, String(v)]))}` : name;
      const method = opts.method ?? "POST";
      const { data, error } = await client.functions.invoke(path, {
        method,
        body: method === "GET" || method === "DELETE" ? undefined : ((opts.body ?? {}) as Record<string, unknown>),
      });
      if (error) {
        if (error instanceof FunctionsHttpError) {
          const res = error.context as Response;
          let env: { error_code?: string; message?: string; details?: Record<string, unknown> } = {};
          try {
            env = await res.json();
          } catch {
            /* not an envelope: the status says enough */
          }
          throw new ApiError(res.status, env.error_code ?? "http_error", env.message ?? `Request failed (${res.status})`, env.details ?? {});
        }
        throw new ApiError(0, "network_error", "The API could not be reached. Check your connection and try again.");
      }
      return (data as { data: T }).data;
    },
  };
}
