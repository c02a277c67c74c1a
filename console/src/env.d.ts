/** True in the local stack's build (`vite build --mode stack`), false in production. */
declare const __STACK__: boolean;

interface ImportMetaEnv {
  readonly VITE_FUNCTIONS_URL?: string;
  readonly VITE_SUPABASE_URL?: string;
  readonly VITE_SUPABASE_ANON_KEY?: string;
  /** Comma-separated: email, github (Supabase Auth). */
  readonly VITE_AUTH_PROVIDERS?: string;
}
