// The signed-in session, whichever way it was made:
//  - exchange sessions (the local stack's test user; Privy): kept in localStorage,
//    refreshed through `refresh-session` a minute before they expire, revoked by `logout`;
//  - Supabase Auth sessions (email and password, GitHub): supabase-js keeps and refreshes
//    them; sign-out revokes the refresh token there.
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { makeApi, type Api } from "../api/client";
import type { Session } from "../api/types";
import type { Config } from "../config";

const KEY = "hangar.session";
const EARLY_S = 60;

interface Stored {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
}

export class Auth {
  readonly api: Api;
  private readonly anon: Api;
  private stored: Stored | null;
  private refreshing: Promise<string | null> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private supabaseAuth: SupabaseClient | null = null;
  private listeners = new Set<() => void>();

  constructor(readonly config: Config) {
    this.stored = read();
    // anon first: supabase-js asks for the access token while it constructs `api`, which
    // may refresh the session at once (through anon).
    this.anon = makeApi(config, async () => null);
    this.api = makeApi(config, () => this.token());
    if (config.supabaseUrl && config.auth.some((a) => a === "email" || a === "github")) {
      this.supabaseAuth = createClient(config.supabaseUrl, config.anonKey, { auth: { persistSession: true, autoRefreshToken: true, detectSessionInUrl: true } });
      this.supabaseAuth.auth.onAuthStateChange(() => this.emit());
    }
    this.schedule();
  }

  /** The Supabase Auth client (production sign-in), when configured. */
  get supabase(): SupabaseClient | null {
    return this.supabaseAuth;
  }

  onChange(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }
  private emit() {
    for (const f of this.listeners) f();
  }

  async signedIn(): Promise<boolean> {
    return (await this.token()) !== null;
  }

  /** Exchanges an identity provider's token (Privy's format) for a Hangar session. */
  async exchange(token: string, identityToken?: string): Promise<void> {
    const s = await this.anon.call<Session>("exchange", { body: identityToken ? { token, identityToken } : { token } });
    this.keep(s);
  }

  async signOut(): Promise<void> {
    try {
      if (this.stored) await this.api.call("logout", { body: {} });
      if (this.supabaseAuth) await this.supabaseAuth.auth.signOut();
    } finally {
      this.keep(null);
    }
  }

  /** A valid access token, refreshed first when it is about to expire; null when signed out. */
  async token(): Promise<string | null> {
    if (this.stored) {
      if (this.stored.expiresAt - EARLY_S > Date.now() / 1000) return this.stored.accessToken;
      return this.refresh();
    }
    if (this.supabaseAuth) {
      const { data } = await this.supabaseAuth.auth.getSession();
      return data.session?.access_token ?? null;
    }
    return null;
  }

  private refresh(): Promise<string | null> {
    this.refreshing ??= (async () => {
      const refreshToken = this.stored?.refreshToken;
      if (!refreshToken) return null;
      try {
        const s = await this.anon.call<Session>("refresh-session", { body: { refreshToken } });
        this.keep(s);
        return s.accessToken;
      } catch {
        this.keep(null); // spent or revoked: sign in again
        return null;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private keep(s: Session | null) {
    this.stored = s && { accessToken: s.accessToken, refreshToken: s.refreshToken, expiresAt: s.expiresAt };
    if (this.stored) localStorage.setItem(KEY, JSON.stringify(this.stored));
    else localStorage.removeItem(KEY);
    this.schedule();
    this.emit();
  }

  private schedule() {
    clearTimeout(this.timer);
    if (!this.stored) return;
    const ms = Math.max(0, (this.stored.expiresAt - EARLY_S) * 1000 - Date.now());
    this.timer = setTimeout(() => void this.refresh(), Math.min(ms, 2 ** 31 - 1));
  }
}

function read(): Stored | null {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? "null");
    return s && typeof s.accessToken === "string" && typeof s.refreshToken === "string" && typeof s.expiresAt === "number" ? s : null;
  } catch {
    return null;
  }
}
