import { useState } from "react";
import type { Api } from "../api/client";
import type { CreateMachineRequest, Machine, Pricing, ProjectList, SshKeyList, TeamList } from "../api/types";
import { ErrorNote, Field } from "../ui/Form";
import { useAction, useResource } from "../ui/hooks";
import { money } from "../ui/format";

export default function NewMachine({ api, go }: { api: Api; go: (hash: string) => void }) {
  const pricing = useResource(() => api.call<Pricing>("get-pricing", { method: "GET" }), [api]);
  const projects = useResource(() => api.call<ProjectList>("projects", { method: "GET" }), [api]);
  const teams = useResource(() => api.call<TeamList>("teams", { method: "GET" }), [api]);
  const keys = useResource(() => api.call<SshKeyList>("ssh-keys", { method: "GET" }), [api]);
  const [form, setForm] = useState({ name: "", tier: "dev.small", provider: "", region: "", image: "", projectId: "", teamId: "" });
  const [sshKeyIds, setKeys] = useState<string[]>([]);
  const [error, run] = useAction();
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    const body: Record<string, unknown> = { name: form.name, tier: form.tier };
    for (const k of ["provider", "region", "image", "projectId", "teamId"] as const) if (form[k].trim()) body[k] = form[k].trim();
    if (sshKeyIds.length) body.sshKeyIds = sshKeyIds;
    await run(() => api.call<Machine>("create-machine", { body: body as CreateMachineRequest }), (m) => go(`#/machines/${m.id}`));
    setBusy(false);
  }
  return (
    <section aria-labelledby="new-h">
      <h1 id="new-h">New machine</h1>
      <form onSubmit={submit} className="card" noValidate>
        <Field label="Name" name="name" error={error} hint="1–63 letters, digits, spaces, - and _">
          {(p) => <input {...p} value={form.name} onChange={set("name")} required autoComplete="off" />}
        </Field>
        <Field label="Tier" name="tier" error={error}>
          {(p) => (
            <select {...p} value={form.tier} onChange={set("tier")} disabled={!pricing.data}>
              {pricing.data ? (
                pricing.data.tiers.map((t) => (
                  <option key={t.id} value={t.id}>
                    {t.id}: {t.cpu} vCPU, {t.memoryMb / 1024} GB, {money(t.pricePerHourCents)}/hour, {money(t.pricePerMonthCents)}/month
                  </option>
                ))
              ) : (
                <option value={form.tier}>{pricing.error ? "Prices could not be loaded" : "Loading tiers…"}</option>
              )}
            </select>
          )}
        </Field>
        <Field label="Provider" name="provider" error={error} hint="aws, gcp or azure; empty for the default">
          {(p) => (
            <select {...p} value={form.provider} onChange={set("provider")}>
              <option value="">Default</option>
              <option>aws</option><option>gcp</option><option>azure</option>
            </select>
          )}
        </Field>
        <Field label="Region" name="region" error={error} hint="Empty for the provider's default">
          {(p) => <input {...p} value={form.region} onChange={set("region")} autoComplete="off" />}
        </Field>
        <Field label="Image" name="image" error={error} hint="Empty for the default image">
          {(p) => <input {...p} value={form.image} onChange={set("image")} autoComplete="off" />}
        </Field>
        <Field label="Project" name="projectId" error={error}>
          {(p) => (
            <select {...p} value={form.projectId} onChange={set("projectId")}>
              <option value="">None</option>
              {projects.data?.projects.map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}
            </select>
          )}
        </Field>
        <Field label="Team" name="teamId" error={error}>
          {(p) => (
            <select {...p} value={form.teamId} onChange={set("teamId")}>
              <option value="">None (only me)</option>
              {teams.data?.teams.map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}
            </select>
          )}
        </Field>
        <fieldset>
          <legend>SSH keys</legend>
          {keys.data?.sshKeys.length ? (
            keys.data.sshKeys.map((k) => (
              <label key={k.id} className="check">
                <input type="checkbox" checked={sshKeyIds.includes(k.id)} onChange={(e) => setKeys(e.target.checked ? [...sshKeyIds, k.id] : sshKeyIds.filter((x) => x !== k.id))} />
                {k.name} <code>{k.fingerprint}</code>
              </label>
            ))
          ) : (
            <p className="empty">No SSH keys yet. <a href="#/ssh-keys">Add one</a>.</p>
          )}
        </fieldset>
        <ErrorNote error={error} />
        <button type="submit" disabled={busy}>Create machine</button>
      </form>
    </section>
  );
}
