import { useEffect, useState } from "react";
import type { Api } from "../api/client";
import type { MachinePage, MachineStatus, ProjectList, TeamList } from "../api/types";
import { useResource } from "../ui/hooks";
import { ListState } from "../ui/List";
import { money } from "../ui/format";

export const STATUSES: MachineStatus[] = ["provisioning", "starting", "running", "stopping", "stopped", "restarting", "terminating", "error"];
export const POLL_MS = 2000;

export default function Machines({ api }: { api: Api }) {
  const [status, setStatus] = useState("");
  const [projectId, setProjectId] = useState("");
  const [teamId, setTeamId] = useState("");
  const machines = useResource(() => api.call<MachinePage>("get-user-machines", { body: { limit: 100, ...(status && { status }), ...(projectId && { projectId }) } }), [api, status, projectId], POLL_MS);
  const projects = useResource(() => api.call<ProjectList>("projects", { method: "GET" }), [api]);
  const teams = useResource(() => api.call<TeamList>("teams", { method: "GET" }), [api]);
  // The moment the list is on screen with its data, on Chromium's performance timeline
  // (make bench: tests/bench/console.mjs measures it from the navigation's start).
  const ready = machines.data !== undefined;
  useEffect(() => {
    if (ready && !performance.getEntriesByName("hangar:machines-ready").length) performance.mark("hangar:machines-ready");
  }, [ready]);
  const shown = (p: MachinePage) => p.machines.filter((m) => !teamId || m.teamId === teamId);
  return (
    <section aria-labelledby="machines-h">
      <div className="heading">
        <h1 id="machines-h">Machines</h1>
        <a className="button" href="#/machines/new">New machine</a>
      </div>
      <div className="filters" role="group" aria-label="Filters">
        <Filter label="Status" value={status} set={setStatus} options={STATUSES.map((s) => ({ id: s, name: s }))} />
        <Filter label="Project" value={projectId} set={setProjectId} options={projects.data?.projects} />
        <Filter label="Team" value={teamId} set={setTeamId} options={teams.data?.teams} />
      </div>
      <ListState r={machines} what="machines" items={shown} empty={<>No machines yet. <a href="#/machines/new">Create one</a>.</>}>
        {(p) => (
          <table aria-label="Machines">
            <thead>
              <tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Tier</th><th scope="col" className="wide">Region</th><th scope="col" className="wide">Cost/hour</th></tr>
            </thead>
            <tbody>
              {shown(p).map((m) => (
                <tr key={m.id}>
                  <td><a href={`#/machines/${m.id}`}>{m.name}</a></td>
                  <td><span className={`status status-${m.status}`}>{m.status}</span>{m.pendingJob && <small> ({m.pendingJob.action} {m.pendingJob.status})</small>}</td>
                  <td>{m.tier}</td>
                  <td className="wide">{m.provider}/{m.region}</td>
                  <td className="wide">{money(m.costPerHourCents)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListState>
    </section>
  );
}

function Filter({ label, value, set, options = [] }: { label: string; value: string; set: (v: string) => void; options?: { id: string; name: string }[] }) {
  return (
    <label>
      {label}
      <select value={value} onChange={(e) => set(e.target.value)}>
        <option value="">Any</option>
        {options.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
      </select>
    </label>
  );
}
