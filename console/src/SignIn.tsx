// Sign-in: the local stack's test user (dev/test build only), or Supabase Auth's email and
// password and GitHub in production (configured at build time: VITE_AUTH_PROVIDERS).
import { lazy, Suspense, useState } from "react";
import type { Auth } from "./auth/session";
import { ErrorNote } from "./ui/Form";

const TestSignIn = __STACK__ ? lazy(() => import("./auth/TestSignIn")) : null;

export default function SignIn({ auth }: { auth: Auth }) {
  return (
    <main className="signin" aria-labelledby="signin-h">
      <h1 id="signin-h">Hangar</h1>
      <p>Cloud machines, started and stopped from here.</p>
      {TestSignIn && (
        <Suspense fallback={<p role="status">Loading…</p>}>
          <TestSignIn auth={auth} />
        </Suspense>
      )}
      {auth.supabase && <SupabaseSignIn auth={auth} />}
      {!TestSignIn && !auth.supabase && <p role="alert">No sign-in method is configured for this build.</p>}
    </main>
  );
}

function SupabaseSignIn({ auth }: { auth: Auth }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const sb = auth.supabase!;
  const methods = auth.config.auth;
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    const { error } = await sb.auth.signInWithPassword({ email, password });
    if (error) setError(error);
  }
  return (
    <div className="card">
      {methods.includes("email") && (
        <form onSubmit={submit} noValidate>
          <label htmlFor="email">Email</label>
          <input id="email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />
          <label htmlFor="password">Password</label>
          <input id="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
          <ErrorNote error={error} />
          <button type="submit">Sign in with email</button>
        </form>
      )}
      {methods.includes("github") && (
        <button type="button" onClick={() => sb.auth.signInWithOAuth({ provider: "github", options: { redirectTo: location.origin } })}>Sign in with GitHub</button>
      )}
    </div>
  );
}
