import { useState } from "react";
import type { Api } from "../api/client";
import type { SshKey, SshKeyList } from "../api/types";
import { DeleteButton } from "../ui/Delete";
import { ErrorNote, Field } from "../ui/Form";
import { useAction, useResource } from "../ui/hooks";
import { ListState } from "../ui/List";
import { when } from "../ui/format";

export default function SshKeys({ api }: { api: Api }) {
  const list = useResource(() => api.call<SshKeyList>("ssh-keys", { method: "GET" }), [api]);
  const [form, setForm] = useState({ name: "", publicKey: "" });
  const [error, run] = useAction();
  const [added, setAdded] = useState<SshKey | null>(null);

  function add(e: React.FormEvent) {
    e.preventDefault();
    setAdded(null);
    void run(() => api.call<SshKey>("ssh-keys", { body: { name: form.name, publicKey: form.publicKey.trim() } }), (k) => {
      setAdded(k);
      setForm({ name: "", publicKey: "" });
      list.reload();
    });
  }
  const remove = (id: string) => run(() => api.call(`ssh-keys/${id}`, { method: "DELETE" }), list.reload);
  return (
    <section aria-labelledby="keys-h">
      <h1 id="keys-h">SSH keys</h1>
      <ListState r={list} what="SSH keys" items={(d) => d.sshKeys} empty="No SSH keys yet.">
        {(d) => (
          <table aria-label="SSH keys">
            <thead><tr><th scope="col">Name</th><th scope="col">Fingerprint</th><th scope="col" className="wide">Added</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {d.sshKeys.map((k) => (
                <tr key={k.id}>
                  <td>{k.name} <small>{k.type}</small></td>
                  <td><code>{k.fingerprint}</code></td>
                  <td className="wide">{when(k.createdAt)}</td>
                  <td><DeleteButton what={k.name} onConfirm={() => remove(k.id)} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListState>
      <h2>Add a key</h2>
      <form onSubmit={add} className="card" noValidate>
        <Field label="Key name" name="name" error={error}>{(p) => <input {...p} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />}</Field>
        <Field label="Public key" name="publicKey" error={error} hint="One line, as in ~/.ssh/id_ed25519.pub">
          {(p) => <textarea {...p} rows={3} value={form.publicKey} onChange={(e) => setForm({ ...form, publicKey: e.target.value })} spellCheck={false} />}
        </Field>
        <ErrorNote error={error} />
        <button type="submit">Add key</button>
        {added && <p role="status">Added {added.name}: <code>{added.fingerprint}</code></p>}
      </form>
    </section>
  );
}
