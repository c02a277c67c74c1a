// Where the API is and how people sign in. Production: fixed at build time (VITE_*).
// The local stack: read from the console server's /config.json, because its ports are
// chosen when the stack starts (tests/stack/console.mjs).
export interface Config {
  functionsUrl: string;
  anonKey: string;
  /** Supabase Auth's origin (production sign-in); empty on the local stack. */
  supabaseUrl: string;
  /** Sign-in methods offered: "test" (local stack only), "email", "github". */
  auth: string[];
}

export async function loadConfig(): Promise<Config> {
  if (__STACK__) {
    const res = await fetch("/config.json");
    if (!res.ok) throw new Error(`config.json: ${res.status}`);
    const c = (await res.json()) as Omit<Config, "auth">;
    return { ...c, auth: ["test"] };
  }
  const e = import.meta.env;
  return {
    functionsUrl: e.VITE_FUNCTIONS_URL ?? "",
    anonKey: e.VITE_SUPABASE_ANON_KEY ?? "",
    supabaseUrl: e.VITE_SUPABASE_URL ?? "",
    auth: (e.VITE_AUTH_PROVIDERS ?? "email").split(",").map((s) => s.trim()).filter((s) => s && s !== "test"),
  };
}
