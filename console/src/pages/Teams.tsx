import { useState } from "react";
import type { Api } from "../api/client";
import type { InvitationList, MemberList, ReceivedInvitation, TeamList } from "../api/types";
import { DeleteButton } from "../ui/Delete";
import { ErrorNote, Field } from "../ui/Form";
import { useAction, useResource } from "../ui/hooks";
import { ListState } from "../ui/List";
import { when } from "../ui/format";

export default function Teams({ api, selected, go }: { api: Api; selected?: string; go: (h: string) => void }) {
  const list = useResource(() => api.call<TeamList>("teams", { method: "GET" }), [api]);
  const invitations = useResource(() => api.call<InvitationList>("teams/invitations", { method: "GET" }), [api]);
  const [name, setName] = useState("");
  const [error, run] = useAction();
  const [inviteError, runInvitation] = useAction();

  function create(e: React.FormEvent) {
    e.preventDefault();
    void run(() => api.call("teams", { body: { name } }), () => {
      setName("");
      list.reload();
    });
  }
  const answer = (inv: ReceivedInvitation, accept: boolean) =>
    runInvitation(
      () => (accept ? api.call(`teams/${inv.teamId}/join`, { body: {} }) : api.call(`teams/invitations/${inv.id}`, { method: "DELETE" })),
      () => (invitations.reload(), list.reload()),
    );
  const team = list.data?.teams.find((t) => t.id === selected);
  return (
    <section aria-labelledby="teams-h">
      <h1 id="teams-h">Teams</h1>
      <h2>Invitations for you</h2>
      <ErrorNote error={inviteError} />
      <ListState r={invitations} what="invitations" items={(d) => d.invitations} empty="No pending invitations.">
        {(d) => (
          <ul aria-label="Invitations" className="plain">
            {d.invitations.map((inv) => (
              <li key={inv.id}>
                <strong>{inv.teamName}</strong>{inv.inviterName && <> from {inv.inviterName}</>} <small>expires {when(inv.expiresAt)}</small>{" "}
                <button type="button" onClick={() => answer(inv, true)} aria-label={`Accept invitation to ${inv.teamName}`}>Accept</button>{" "}
                <button type="button" onClick={() => answer(inv, false)} aria-label={`Decline invitation to ${inv.teamName}`}>Decline</button>
              </li>
            ))}
          </ul>
        )}
      </ListState>
      <h2>Your teams</h2>
      <ListState r={list} what="teams" items={(d) => d.teams} empty="No teams yet.">
        {(d) => (
          <table aria-label="Teams">
            <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Members</th><th scope="col">Machines</th></tr></thead>
            <tbody>
              {d.teams.map((t) => (
                <tr key={t.id} aria-current={t.id === selected ? "true" : undefined}>
                  <td><a href={`#/teams/${t.id}`}>{t.name}</a></td>
                  <td>{t.role}</td>
                  <td>{t.memberCount}</td>
                  <td>{t.machineCount}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListState>
      {team && <TeamMembers api={api} id={team.id} name={team.name} owner={team.role === "owner"} onLeft={() => (list.reload(), go("#/teams"))} />}
      <h2>New team</h2>
      <form onSubmit={create} className="card" noValidate>
        <Field label="Team name" name="name" error={error}>{(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <ErrorNote error={error} />
        <button type="submit">Create team</button>
      </form>
    </section>
  );
}

function TeamMembers({ api, id, name, owner, onLeft }: { api: Api; id: string; name: string; owner: boolean; onLeft: () => void }) {
  const members = useResource(() => api.call<MemberList>(`teams/${id}/members`, { method: "GET" }), [api, id]);
  const [identifier, setIdentifier] = useState("");
  const [error, run] = useAction();
  const [sent, setSent] = useState<string | null>(null);
  function invite(e: React.FormEvent) {
    e.preventDefault();
    setSent(null);
    const who = identifier.trim();
    void run(() => api.call(`teams/${id}/members`, { body: { identifier: who } }), () => {
      setSent(who);
      setIdentifier("");
      members.reload();
    });
  }
  const remove = (accountId: string, self: boolean) =>
    run(() => api.call(`teams/${id}/members/${accountId}`, { method: "DELETE" }), () => (self ? onLeft() : members.reload()));
  return (
    <section aria-labelledby="members-h" className="card">
      <h2 id="members-h">Members of {name}</h2>
      <ListState r={members} what="members" items={(d) => d.members} empty="No members.">
        {(d) => (
          <ul aria-label="Members" className="plain">
            {d.members.map((m) => (
              <li key={m.accountId}>
                {m.displayName ?? m.identifier ?? m.accountId} <small>{m.role} since {when(m.joinedAt)}</small>{" "}
                {owner && m.role !== "owner" && <DeleteButton what={`member ${m.displayName ?? m.identifier ?? m.accountId}`} onConfirm={() => remove(m.accountId, false)} />}
              </li>
            ))}
          </ul>
        )}
      </ListState>
      {owner ? (
        <form onSubmit={invite} noValidate>
          <Field label="Invite by email, wallet or account id" name="identifier" error={error}>{(p) => <input {...p} value={identifier} onChange={(e) => setIdentifier(e.target.value)} autoComplete="off" />}</Field>
          <ErrorNote error={error} />
          <button type="submit">Send invitation</button>
          {sent && <p role="status">Invitation sent to {sent}.</p>}
        </form>
      ) : (
        <>
          <ErrorNote error={error} />
          <MeLeave api={api} onLeave={(me) => remove(me, true)} />
        </>
      )}
    </section>
  );
}

function MeLeave({ api, onLeave }: { api: Api; onLeave: (me: string) => void }) {
  const me = useResource(() => api.call<{ id: string }>("me", { method: "GET" }), [api]);
  return me.data ? <DeleteButton what="my membership (leave the team)" onConfirm={() => onLeave(me.data!.id)} /> : null;
}
