// Names and scopes only: a value is sent once and never shown again (the API never returns it).
import { useState } from "react";
import type { Api } from "../api/client";
import type { MachinePage, ProjectList, SecretList, TeamList } from "../api/types";
import { DeleteButton } from "../ui/Delete";
import { ErrorNote, Field } from "../ui/Form";
import { useAction, useResource } from "../ui/hooks";
import { ListState } from "../ui/List";
import { when } from "../ui/format";

type Scope = "account" | "team" | "project" | "machine";
const TARGET = { team: "teamId", project: "projectId", machine: "machineId" } as const;

export default function Secrets({ api }: { api: Api }) {
  const list = useResource(() => api.call<SecretList>("secrets", { method: "GET" }), [api]);
  const teams = useResource(() => api.call<TeamList>("teams", { method: "GET" }), [api]);
  const projects = useResource(() => api.call<ProjectList>("projects", { method: "GET" }), [api]);
  const machines = useResource(() => api.call<MachinePage>("get-user-machines", { body: { limit: 100 } }), [api]);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [scope, setScope] = useState<Scope>("account");
  const [target, setTarget] = useState("");
  const [error, run] = useAction();
  const [saved, setSaved] = useState<string | null>(null);

  const targets: { id: string; name: string }[] =
    scope === "team" ? teams.data?.teams.filter((t) => t.role === "owner") ?? [] : scope === "project" ? projects.data?.projects ?? [] : scope === "machine" ? machines.data?.machines ?? [] : [];
  const nameOf = (id: string | null | undefined) =>
    id ? ([...(teams.data?.teams ?? []), ...(projects.data?.projects ?? []), ...(machines.data?.machines ?? [])].find((x) => x.id === id)?.name ?? id) : "";

  function save(e: React.FormEvent) {
    e.preventDefault();
    setSaved(null);
    void run(() => api.call("secrets", { method: "PUT", body: { name, value, ...(scope !== "account" && { [TARGET[scope]]: target }) } }), () => {
      setSaved(name);
      setValue(""); // never kept, never shown again
      setName("");
      list.reload();
    });
  }
  const remove = (id: string) => run(() => api.call(`secrets/${id}`, { method: "DELETE" }), list.reload);
  return (
    <section aria-labelledby="secrets-h">
      <h1 id="secrets-h">Secrets</h1>
      <p>Values are encrypted and delivered only to machines; they are never shown after you save them.</p>
      <ListState r={list} what="secrets" items={(d) => d.secrets} empty="No secrets yet.">
        {(d) => (
          <table aria-label="Secrets">
            <thead><tr><th scope="col">Name</th><th scope="col">Scope</th><th scope="col" className="wide">Updated</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {d.secrets.map((s) => {
                const scoped = s.teamId ?? s.projectId ?? s.machineId;
                return (
                  <tr key={s.id}>
                    <td><code>{s.name}</code></td>
                    <td>{s.scope}{scoped && <small> {nameOf(scoped)}</small>}</td>
                    <td className="wide">{when(s.updatedAt)}</td>
                    <td>
                      <button type="button" onClick={() => (setName(s.name), setScope(s.scope as Scope), setTarget(scoped ?? ""))} aria-label={`Replace ${s.name}`}>Replace</button>{" "}
                      <DeleteButton what={s.name} onConfirm={() => remove(s.id)} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </ListState>
      <h2>Set a secret</h2>
      <form onSubmit={save} className="card" noValidate autoComplete="off">
        <Field label="Secret name" name="name" error={error} hint="A–Z, 0–9 and _, starting with a letter or _">
          {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value.toUpperCase())} spellCheck={false} />}
        </Field>
        <Field label="Value" name="value" error={error} hint="At most 8 KiB">
          {(p) => <input {...p} type="password" value={value} onChange={(e) => setValue(e.target.value)} autoComplete="new-password" />}
        </Field>
        <Field label="Scope" name="scope" error={error}>
          {(p) => (
            <select {...p} value={scope} onChange={(e) => (setScope(e.target.value as Scope), setTarget(""))}>
              <option value="account">Account: my machines in no team</option>
              <option value="team">Team: every machine of a team I own</option>
              <option value="project">Project: the project's machines</option>
              <option value="machine">Machine: one machine</option>
            </select>
          )}
        </Field>
        {scope !== "account" && (
          <Field label={scope[0].toUpperCase() + scope.slice(1)} name={TARGET[scope]} error={error}>
            {(p) => (
              <select {...p} value={target} onChange={(e) => setTarget(e.target.value)}>
                <option value="">Choose…</option>
                {targets.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
              </select>
            )}
          </Field>
        )}
        <ErrorNote error={error} />
        <button type="submit">Save secret</button>
        {saved && <p role="status">Saved {saved}. Its value is not shown again.</p>}
      </form>
    </section>
  );
}
