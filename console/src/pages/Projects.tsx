import { useState } from "react";
import { ApiError, type Api } from "../api/client";
import type { ProjectList, TeamList } from "../api/types";
import { DeleteButton } from "../ui/Delete";
import { ErrorNote, Field } from "../ui/Form";
import { useAction, useResource } from "../ui/hooks";
import { ListState } from "../ui/List";
import { when } from "../ui/format";

export default function Projects({ api }: { api: Api }) {
  const list = useResource(() => api.call<ProjectList>("projects", { method: "GET" }), [api]);
  const teams = useResource(() => api.call<TeamList>("teams", { method: "GET" }), [api]);
  const [form, setForm] = useState({ name: "", description: "", teamId: "" });
  const [error, run] = useAction();
  const [listError, runOnList] = useAction();

  function create(e: React.FormEvent) {
    e.preventDefault();
    void run(() => api.call("projects", { body: { name: form.name, ...(form.description && { description: form.description }), ...(form.teamId && { teamId: form.teamId }) } }), () => {
      setForm({ name: "", description: "", teamId: "" });
      list.reload();
    });
  }
  const remove = (id: string, cascade = false) =>
    runOnList(() => api.call(`projects/${id}`, { method: "DELETE", query: cascade ? { cascade: true } : undefined }), list.reload);
  const notEmpty = listError instanceof ApiError && listError.code === "project_not_empty";
  return (
    <section aria-labelledby="projects-h">
      <h1 id="projects-h">Projects</h1>
      <ErrorNote error={listError} />
      <ListState r={list} what="projects" items={(d) => d.projects} empty="No projects yet.">
        {(d) => (
          <table aria-label="Projects">
            <thead><tr><th scope="col">Name</th><th scope="col">Machines</th><th scope="col" className="wide">Created</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {d.projects.map((p) => (
                <tr key={p.id}>
                  <td>{p.name}{p.description && <small> — {p.description}</small>}</td>
                  <td>{p.machineCount}</td>
                  <td className="wide">{when(p.createdAt)}</td>
                  <td>
                    <DeleteButton what={p.name} onConfirm={() => remove(p.id)} />
                    {notEmpty && <button type="button" className="danger" onClick={() => remove(p.id, true)}>Delete {p.name} and its machines</button>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListState>
      <h2>New project</h2>
      <form onSubmit={create} className="card" noValidate>
        <Field label="Project name" name="name" error={error}>{(p) => <input {...p} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />}</Field>
        <Field label="Description" name="description" error={error}>{(p) => <input {...p} value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} />}</Field>
        <Field label="Team" name="teamId" error={error}>
          {(p) => (
            <select {...p} value={form.teamId} onChange={(e) => setForm({ ...form, teamId: e.target.value })}>
              <option value="">None</option>
              {teams.data?.teams.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
            </select>
          )}
        </Field>
        <ErrorNote error={error} />
        <button type="submit">Create project</button>
      </form>
    </section>
  );
}
