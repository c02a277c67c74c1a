import { useState } from "react";
import type { Api } from "../api/client";
import type { Deployment, EventPage, Insights, Job, MachineDetail, QueuedJob } from "../api/types";
import { Chart } from "../ui/Chart";
import { ErrorNote, Field } from "../ui/Form";
import { useAction, useResource } from "../ui/hooks";
import { ListState } from "../ui/List";
import { money, when } from "../ui/format";
import { POLL_MS } from "./Machines";

const ACTIONS = [
  { fn: "start-machine", label: "Start", from: ["stopped", "error"] },
  { fn: "stop-machine", label: "Stop", from: ["running"] },
  { fn: "restart-machine", label: "Restart", from: ["running"] },
] as const;

export default function Machine({ api, id, go }: { api: Api; id: string; go: (hash: string) => void }) {
  const m = useResource(() => api.call<MachineDetail>("get-machine-status", { body: { machineId: id } }), [api, id], POLL_MS);
  const logs = useResource(() => api.call<EventPage>("get-logs", { body: { machineId: id, limit: 50 } }), [api, id], POLL_MS);
  const [period, setPeriod] = useState<"1h" | "24h" | "7d">("1h");
  const insights = useResource(() => api.call<Insights>("insights", { body: { machineId: id, period } }), [api, id, period], POLL_MS * 2);
  const [actionError, runAction] = useAction();
  const [confirming, setConfirming] = useState(false);
  const [copied, setCopied] = useState(false);

  const act = (fn: string) => runAction(() => api.call(fn, { body: { machineId: id } }), () => (fn === "delete-machine" ? go("#/machines") : m.reload()));

  if (!m.data) return <ListState r={m} what="the machine" items={() => []} empty={null}>{() => null}</ListState>;
  const machine = m.data;
  const deletable = !["terminating", "terminated"].includes(machine.status);
  return (
    <section aria-labelledby="machine-h">
      <p><a href="#/machines">← Machines</a></p>
      <div className="heading">
        <h1 id="machine-h">{machine.name}</h1>
        <span className={`status status-${machine.status}`} aria-label={`Status: ${machine.status}`}>{machine.status}</span>
      </div>
      <dl className="facts">
        <dt>Pending job</dt><dd>{machine.pendingJob ? `${machine.pendingJob.action} (${machine.pendingJob.status})` : "none"}</dd>
        <dt>Tier</dt><dd>{machine.tier} · {money(machine.costPerHourCents)}/hour · {money(machine.totalCostCents)} so far</dd>
        <dt>Where</dt><dd>{machine.provider} / {machine.region} / {machine.image}</dd>
        <dt>Address</dt><dd>{machine.ipAddress ?? "—"}</dd>
        <dt>SSH</dt>
        <dd>
          {machine.sshCommand ? (
            <>
              <code>{machine.sshCommand}</code>{" "}
              <button type="button" onClick={() => navigator.clipboard?.writeText(machine.sshCommand!).then(() => setCopied(true), () => setCopied(false))}>Copy SSH command</button>
              {copied && <span role="status"> Copied</span>}
            </>
          ) : "available while running"}
        </dd>
      </dl>
      <div className="actions" role="group" aria-label="Machine actions">
        {ACTIONS.map((a) => (
          <button key={a.fn} type="button" disabled={!(a.from as readonly string[]).includes(machine.status)} onClick={() => act(a.fn)}>{a.label}</button>
        ))}
        {!confirming ? (
          <button type="button" className="danger" disabled={!deletable} onClick={() => setConfirming(true)}>Delete</button>
        ) : (
          <span role="group" aria-label="Confirm delete" className="confirm">
            Delete {machine.name}? <button type="button" className="danger" onClick={() => act("delete-machine")}>Yes, delete</button>{" "}
            <button type="button" onClick={() => setConfirming(false)}>Cancel</button>
          </span>
        )}
      </div>
      <ErrorNote error={actionError} />

      <h2>Metrics</h2>
      <div role="group" aria-label="Period" className="actions">
        {(["1h", "24h", "7d"] as const).map((p) => (
          <button key={p} type="button" aria-pressed={period === p} onClick={() => setPeriod(p)}>{p}</button>
        ))}
      </div>
      <ListState r={insights} what="metrics" items={(d) => d.series} empty="No metrics yet: the machine's agent reports once it runs.">
        {(d) => (
          <div className="charts">
            <Chart label="CPU" points={d.series.map((s) => ({ t: s.recordedAt, v: s.cpuUsage }))} />
            <Chart label="Memory" points={d.series.map((s) => ({ t: s.recordedAt, v: s.memoryUsage }))} />
            <Chart label="Disk" points={d.series.map((s) => ({ t: s.recordedAt, v: s.diskUsage }))} />
          </div>
        )}
      </ListState>

      <Operate api={api} id={id} running={machine.status === "running"} />

      <h2>Events and logs</h2>
      <ListState r={logs} what="events" items={(d) => d.events} empty="No events yet.">
        {(d) => (
          <ol className="events" aria-label="Events">
            {d.events.map((e) => (
              <li key={e.id} className={`level-${e.level}`}>
                <time dateTime={e.createdAt}>{when(e.createdAt)}</time> <strong>{e.eventType}</strong> <small>{e.source}</small>
                {e.details != null && <code>{typeof e.details === "string" ? e.details : JSON.stringify(e.details)}</code>}
              </li>
            ))}
          </ol>
        )}
      </ListState>
    </section>
  );
}

/** Deploy a protocol and send a command; each shows its job until it finishes. */
function Operate({ api, id, running }: { api: Api; id: string; running: boolean }) {
  const [proto, setProto] = useState({ name: "", version: "" });
  const [cmd, setCmd] = useState({ command: "", args: "" });
  const [error, runJob] = useAction();
  const [jobId, setJobId] = useState<string | null>(null);
  const job = useResource(() => (jobId ? api.call<Job>("get-job", { body: { jobId } }) : Promise.resolve(null)), [api, jobId], jobId ? POLL_MS : undefined);

  const run = (fn: "deploy-protocol" | "send-command", body: Record<string, unknown>) =>
    runJob(() => api.call<Deployment | QueuedJob>(fn, { body: { machineId: id, ...body } }), (r) => setJobId(r.job.id));
  return (
    <>
      <h2>Operate</h2>
      {!running && <p>Deploy and command need the machine running.</p>}
      <form className="card" onSubmit={(e) => (e.preventDefault(), run("deploy-protocol", { protocolConfig: { name: proto.name, version: proto.version } }))}>
        <Field label="Protocol name" name="protocolConfig.name" error={error}>
          {(p) => <input {...p} value={proto.name} onChange={(e) => setProto({ ...proto, name: e.target.value })} />}
        </Field>
        <Field label="Protocol version" name="protocolConfig.version" error={error}>
          {(p) => <input {...p} value={proto.version} onChange={(e) => setProto({ ...proto, version: e.target.value })} />}
        </Field>
        <button type="submit" disabled={!running}>Deploy protocol</button>
      </form>
      <form className="card" onSubmit={(e) => (e.preventDefault(), run("send-command", { command: cmd.command, ...(cmd.args.trim() && { args: cmd.args.trim().split(/\s+/) }) }))}>
        <Field label="Command" name="command" error={error}>
          {(p) => <input {...p} value={cmd.command} onChange={(e) => setCmd({ ...cmd, command: e.target.value })} />}
        </Field>
        <Field label="Arguments" name="args" error={error} hint="Separated by spaces">
          {(p) => <input {...p} value={cmd.args} onChange={(e) => setCmd({ ...cmd, args: e.target.value })} />}
        </Field>
        <button type="submit" disabled={!running}>Send command</button>
      </form>
      <ErrorNote error={error} />
      {job.data && (
        <div className="card" role="status" aria-label="Job">
          <p>Job {job.data.action}: <strong>{job.data.status}</strong></p>
          {job.data.result != null && <pre aria-label="Output">{typeof job.data.result === "string" ? job.data.result : JSON.stringify(job.data.result, null, 2)}</pre>}
          {job.data.error != null && <pre aria-label="Job error">{String(typeof job.data.error === "string" ? job.data.error : JSON.stringify(job.data.error))}</pre>}
        </div>
      )}
    </>
  );
}
