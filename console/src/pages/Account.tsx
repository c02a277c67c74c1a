import { useState } from "react";
import type { Api } from "../api/client";
import type { Account as AccountData } from "../api/types";
import { ErrorNote, Field } from "../ui/Form";
import { useAction, useResource } from "../ui/hooks";
import { ListState } from "../ui/List";
import { money, when } from "../ui/format";

export default function Account({ api, signOut }: { api: Api; signOut: () => void }) {
  const me = useResource(() => api.call<AccountData>("me", { method: "GET" }), [api]);
  const [displayName, setName] = useState<string | null>(null);
  const [error, run] = useAction();
  const [saved, setSaved] = useState(false);
  function save(e: React.FormEvent) {
    e.preventDefault();
    setSaved(false);
    void run(() => api.call("me", { method: "PATCH", body: { displayName: displayName ?? "" } }), () => {
      setSaved(true);
      me.reload();
    });
  }
  return (
    <section aria-labelledby="account-h">
      <h1 id="account-h">Account</h1>
      <ListState r={me} what="your account" items={() => [1]} empty={null}>
        {(a) => (
          <>
            <dl className="facts">
              <dt>Account id</dt><dd><code data-testid="account-id">{a.id}</code></dd>
              <dt>Signed in with</dt><dd>{a.provider ?? "—"} {a.identifier && <code>{a.identifier}</code>}</dd>
              <dt>Balance</dt><dd>{money(a.creditBalanceCents)}</dd>
              <dt>Machines</dt><dd>{a.machineCount}</dd>
              <dt>Projects</dt><dd>{a.projectCount}</dd>
              <dt>Member since</dt><dd>{when(a.createdAt)}</dd>
            </dl>
            <form onSubmit={save} className="card" noValidate>
              <Field label="Display name" name="displayName" error={error}>
                {(p) => <input {...p} value={displayName ?? a.displayName ?? ""} onChange={(e) => setName(e.target.value)} />}
              </Field>
              <ErrorNote error={error} />
              <button type="submit">Save</button>
              {saved && <p role="status">Saved.</p>}
            </form>
          </>
        )}
      </ListState>
      <button type="button" onClick={signOut}>Sign out</button>
    </section>
  );
}
