// The local stack's sign-in (never in a production build: App imports it only when
// __STACK__). The console server mints a test user's Privy-format tokens
// (tests/stack/console.mjs), which go through `exchange` like Privy's would.
import { useState } from "react";
import type { Auth } from "./session";
import { ErrorNote } from "../ui/Form";
import { ApiError } from "../api/client";

export default function TestSignIn({ auth }: { auth: Auth }) {
  const [email, setEmail] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function signIn(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await fetch("/local/sign-in", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: email.trim() || undefined }) });
      if (!res.ok) throw new ApiError(res.status, "sign_in_failed", "The local stack could not sign in a test user");
      const { token, identityToken } = await res.json();
      await auth.exchange(token, identityToken);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form onSubmit={signIn} className="card" aria-labelledby="test-sign-in">
      <h2 id="test-sign-in">Local stack</h2>
      <p>Signs in as a test user of this stack (a new one, or the one with this email).</p>
      <label htmlFor="test-email">Test user email (optional)</label>
      <input id="test-email" type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} />
      <ErrorNote error={error} />
      <button type="submit" disabled={busy}>Sign in</button>
    </form>
  );
}
