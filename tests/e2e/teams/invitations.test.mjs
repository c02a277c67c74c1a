// Team invitations (API.md §7; defect 5 of issue 15: adding a member was an identity oracle
// and needed nobody's consent). The owner invites an account id, an email or a wallet and
// gets 202 with the invitation, the same answer whether the identifier names an account or
// not, and nothing of the invitee; the account it names sees it (teams/invitations), joins
// (teams/{id}/join) or declines, and the owner may withdraw it. Invitations expire after 7
// days; a team has at most 50 pending, an account owns at most 20 teams; `GET teams` pages.
// Each rule holds for callers of PostgREST's /rpc too, and the old direct add is gone.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ok, fails, pageIds, show, signIn, refused } from '../lib/api.mjs';
import { asUser, rows, sql, value } from '../lib/machines.mjs';
import { newAddress } from '../lib/jwt.mjs';
import {
  teams, newTeam, invite, join, myInvitations, deleteInvitation, emailUser, walletUser, assertInvitation, assertMember, assertTeam,
} from '../lib/teams.mjs';

let owner, ann;
/** Gives `user` a display name of its own (so that a leak of it is recognised), and returns it. */
async function named(user) {
  user.user.displayName = `Name ${randomUUID().slice(0, 8)}`;
  await sql`update accounts set display_name = ${user.user.displayName} where id = ${user.user.id}`;
  return user;
}
before(async () => { [owner, ann] = await Promise.all([signIn().then(named), signIn().then(named)]); });

const memberIds = async (teamId) =>
  (await rows`select account_id from team_members where team_id = ${teamId} order by joined_at`).map((r) => r.account_id);
const rpc = (user, name, body) => asUser(user, `/rpc/${name}`, { method: 'POST', body });

test('consent: an invitation makes nobody a member; the invitee sees it with the team and inviter, joins, and is a member', async () => {
  const team = await newTeam(owner);
  const res = await invite(owner, team.id, ann.user.id);
  const { invitation } = ok(res, 202);
  assertInvitation(invitation, { asOwner: true });
  assert.deepEqual([invitation.teamId, invitation.identifier], [team.id, ann.user.id]);
  assert.deepEqual(await memberIds(team.id), [owner.user.id], 'not a member before accepting');
  fails(await teams(ann, { path: `/${team.id}` }), 404, 'not_found');
  assert.ok(!ok(await teams(ann)).teams.some((t) => t.id === team.id), 'not in the invitee\'s teams');

  const [seen] = (await myInvitations(ann)).filter((i) => i.teamId === team.id);
  assert.deepEqual(seen, { ...invitation, teamName: team.name, inviterName: owner.user.displayName });
  assert.deepEqual(await myInvitations(owner), [], 'the owner is not invited to anything');

  const member = assertMember(ok(await join(ann, team.id)));
  assert.deepEqual([member.accountId, member.role], [ann.user.id, 'member']);
  assert.deepEqual(await memberIds(team.id), [owner.user.id, ann.user.id]);
  assert.equal(assertTeam(ok(await teams(ann, { path: `/${team.id}` }))).role, 'member');
  assert.deepEqual((await myInvitations(ann)).filter((i) => i.teamId === team.id), [], 'the invitation is spent');
  fails(await join(ann, team.id), 404, 'not_found'); // nothing pending any more
});

test('an invitation names an email or a wallet (any case); only the account that signs in with it sees and accepts it', async () => {
  const [byEmail, byWallet, other] = await Promise.all([emailUser(), walletUser(), signIn()]);
  const team = await newTeam(owner);
  const [toEmail, toWallet] = [
    ok(await invite(owner, team.id, byEmail.user.identifier.toUpperCase()), 202).invitation,
    ok(await invite(owner, team.id, byWallet.user.identifier.toLowerCase()), 202).invitation,
  ];
  for (const [user, inv] of [[byEmail, toEmail], [byWallet, toWallet]]) {
    assert.deepEqual((await myInvitations(user)).map((i) => i.id), [inv.id]);
  }
  // Someone else can neither see, accept nor decline them.
  assert.deepEqual(await myInvitations(other), []);
  fails(await join(other, team.id), 404, 'not_found');
  for (const inv of [toEmail, toWallet]) fails(await deleteInvitation(other, inv.id), 404, 'not_found');
  assert.equal(ok(await join(byEmail, team.id)).accountId, byEmail.user.id);
  assert.equal(ok(await join(byWallet, team.id)).accountId, byWallet.user.id);
  assert.deepEqual((await memberIds(team.id)).sort(), [owner.user.id, byEmail.user.id, byWallet.user.id].sort());
});

test('no oracle: the answer is the same for identifiers of accounts and of nobody, through the function and /rpc', async () => {
  const [byEmail, byWallet] = await Promise.all([emailUser().then(named), walletUser().then(named)]);
  const team = await newTeam(owner);
  const pairs = [
    ['account id', ann.user.id, randomUUID()],
    ['email', byEmail.user.identifier, `nobody-${randomUUID().slice(0, 8)}@example.com`],
    ['wallet', byWallet.user.identifier, newAddress()],
  ];
  // Whatever may differ between two answers besides the identifier itself, the id and the times.
  const shape = (res) => ({
    status: res.status,
    keys: Object.keys(res.json ?? {}).sort(),
    message: res.json?.message,
    dataKeys: Object.keys(res.json?.data?.invitation ?? res.json?.data ?? {}).sort(),
    ok: res.json?.ok,
  });
  for (const [kind, existing, unknown] of pairs) {
    const [a, b] = [await invite(owner, team.id, existing), await invite(owner, team.id, unknown)];
    assert.deepEqual(shape(a), shape(b), `${kind}: ${show(a)} vs ${show(b)}`);
    assert.equal(a.status, 202, show(a));
    for (const res of [a, b]) {
      const text = JSON.stringify(res.json);
      const invitees = [ann, byEmail, byWallet].map((u) => u.user);
      for (const leak of [...invitees.map((u) => u.displayName), byEmail.user.id, byWallet.user.id, ann.user.identifier, byEmail.user.identifier]) {
        if (leak && leak !== existing) assert.ok(!text.toLowerCase().includes(leak.toLowerCase()), `${kind}: nothing of the invitee (${leak}) in ${text}`);
      }
    }
    const [ra, rb] = [
      await rpc(owner, 'hangar_invite_team_member', { p_team_id: team.id, p_identifier: `${existing}` }),
      await rpc(owner, 'hangar_invite_team_member', { p_team_id: team.id, p_identifier: `x${unknown}` }),
    ];
    assert.deepEqual(shape(ra), shape(rb), `${kind} through /rpc: ${show(ra)} vs ${show(rb)}`);
    assert.equal(ra.json.ok, true, show(ra));
  }
  assert.deepEqual(await memberIds(team.id), [owner.user.id], 'nobody joined');
});

test('the invitee declines, the owner withdraws; nobody else deletes one (404); a declined invitation cannot be accepted', async () => {
  const [bob, member] = await Promise.all([signIn(), signIn()]);
  const team = await newTeam(owner);
  ok(await invite(owner, team.id, member.user.id), 202);
  ok(await join(member, team.id));
  const toAnn = ok(await invite(owner, team.id, ann.user.id), 202).invitation;
  const toBob = ok(await invite(owner, team.id, bob.user.id), 202).invitation;
  for (const who of [member, bob]) fails(await deleteInvitation(who, toAnn.id), 404, 'not_found');
  fails(await deleteInvitation(ann, randomUUID()), 404, 'not_found');
  fails(await teams(ann, { path: '/invitations/not-a-uuid', method: 'DELETE' }), 400, 'validation_error', 'id');
  // Declined by ann, withdrawn by the owner.
  assert.deepEqual(ok(await deleteInvitation(ann, toAnn.id)), toAnn);
  assert.deepEqual(ok(await deleteInvitation(owner, toBob.id)), toBob);
  for (const [who, inv] of [[ann, toAnn], [bob, toBob]]) {
    fails(await join(who, team.id), 404, 'not_found');
    fails(await deleteInvitation(who, inv.id), 404, 'not_found');
  }
  // Through /rpc: the same rules.
  const again = ok(await invite(owner, team.id, ann.user.id), 202).invitation;
  const r = await rpc(bob, 'hangar_delete_team_invitation', { p_invitation_id: again.id });
  assert.deepEqual([r.json.ok, r.json.error], [false, 'not_found'], show(r));
  const j = await rpc(bob, 'hangar_join_team', { p_team_id: team.id });
  assert.deepEqual([j.json.ok, j.json.error], [false, 'not_found'], show(j));
  assert.deepEqual(await memberIds(team.id), [owner.user.id, member.user.id]);
});

test('invitations expire after 7 days: no longer listed or accepted, and inviting again makes a new one', async () => {
  const team = await newTeam(owner);
  const first = ok(await invite(owner, team.id, ann.user.id), 202).invitation;
  assert.equal(Date.parse(first.expiresAt) - Date.parse(first.createdAt), 7 * 86400 * 1000);
  await sql`update team_invitations set created_at = now() - interval '7 days 1 second', expires_at = now() - interval '1 second' where id = ${first.id}`;
  assert.ok(!(await myInvitations(ann)).some((i) => i.id === first.id), 'an expired invitation is not listed');
  fails(await join(ann, team.id), 404, 'not_found');
  const r = await rpc(ann, 'hangar_join_team', { p_team_id: team.id });
  assert.deepEqual([r.json.ok, r.json.error], [false, 'not_found'], show(r));
  assert.deepEqual(await memberIds(team.id), [owner.user.id]);
  const second = ok(await invite(owner, team.id, ann.user.id), 202).invitation;
  assert.notEqual(second.id, first.id, 'a fresh invitation');
  assert.equal(await value`select count(*)::int from team_invitations where team_id = ${team.id}`, 1, 'the expired one is gone');
  assert.equal(ok(await join(ann, team.id)).accountId, ann.user.id);
});

test('at most 50 pending invitations per team (403 quota_exceeded), under a race, through the function and /rpc', { timeout: 60000 }, async () => {
  const team = await newTeam(owner);
  const identifiers = Array.from({ length: 60 }, (_, i) => `invitee-${i}-${randomUUID().slice(0, 8)}@example.com`);
  const answers = await Promise.all(identifiers.map((id) => invite(owner, team.id, id)));
  const statuses = answers.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 202).length, 50, statuses.join(','));
  for (const r of answers.filter((x) => x.status !== 202)) {
    fails(r, 403, 'quota_exceeded');
    assert.deepEqual(r.json.details, { limit: 50, current: 50 });
  }
  assert.equal(await value`select count(*)::int from team_invitations where team_id = ${team.id}`, 50);
  const r = await rpc(owner, 'hangar_invite_team_member', { p_team_id: team.id, p_identifier: 'one-more@example.com' });
  assert.deepEqual([r.json.ok, r.json.error, r.json.details], [false, 'quota_exceeded', { limit: 50, current: 50 }], show(r));
  // One already pending is answered again (not a new one, not refused).
  const accepted = answers.find((x) => x.status === 202).json.data.invitation;
  assert.equal(ok(await invite(owner, team.id, accepted.identifier.toUpperCase()), 202).invitation.id, accepted.id);
  // Withdrawing one frees a place.
  ok(await deleteInvitation(owner, accepted.id));
  ok(await invite(owner, team.id, 'one-more@example.com'), 202);
});

test('at most 20 teams owned per account (403 quota_exceeded), through the function and /rpc; membership elsewhere does not count', { timeout: 60000 }, async () => {
  const founder = await signIn();
  // A member of someone else's team: that team is not theirs to count.
  const elsewhere = await newTeam(owner);
  ok(await invite(owner, elsewhere.id, founder.user.id), 202);
  ok(await join(founder, elsewhere.id));
  const made = await Promise.all(Array.from({ length: 22 }, (_, i) => teams(founder, { body: { name: `team ${i}` } })));
  assert.equal(made.filter((r) => r.status === 201).length, 20, made.map((r) => r.status).join(','));
  for (const r of made.filter((x) => x.status !== 201)) {
    fails(r, 403, 'quota_exceeded');
    assert.deepEqual(r.json.details, { limit: 20, current: 20 });
  }
  const r = await rpc(founder, 'hangar_create_team', { p_name: 'via rpc' });
  assert.deepEqual([r.json.ok, r.json.error, r.json.details], [false, 'quota_exceeded', { limit: 20, current: 20 }], show(r));
  assert.equal(await value`select count(*)::int from teams where owner_id = ${founder.user.id}`, 20);
  // Deleting one makes room for one.
  ok(await teams(founder, { path: `/${made.find((x) => x.status === 201).json.data.id}`, method: 'DELETE' }));
  ok(await teams(founder, { body: { name: 'again' } }), 201);
});

test('GET teams and GET teams/invitations page with limit and cursor, newest first; bad ones are 400 naming the field', { timeout: 30000 }, async () => {
  const [pager, inviter] = await Promise.all([signIn(), signIn()]);
  const mine = [];
  for (let i = 0; i < 5; i++) mine.push((await newTeam(pager)).id);
  const pages = await pageIds((query) => teams(pager, { query }), 'teams', 2, assertTeam);
  assert.deepEqual(pages, [[mine[4], mine[3]], [mine[2], mine[1]], [mine[0]]]);
  assert.deepEqual(ok(await teams(pager)).teams.map((t) => t.id), [...mine].reverse(), 'default: one page of up to 50');

  const invited = [];
  for (let i = 0; i < 3; i++) {
    const team = await newTeam(inviter);
    ok(await invite(inviter, team.id, pager.user.id), 202);
    invited.push(team.id);
  }
  const first = ok(await teams(pager, { path: '/invitations', query: { limit: '2' } }));
  assert.deepEqual(first.invitations.map((i) => i.teamId), [invited[2], invited[1]]);
  const second = ok(await teams(pager, { path: '/invitations', query: { limit: '2', cursor: first.nextCursor } }));
  assert.deepEqual([second.invitations.map((i) => i.teamId), second.nextCursor], [[invited[0]], null]);

  for (const path of ['', '/invitations']) {
    for (const [query, field] of [[{ limit: '0' }, 'limit'], [{ limit: '101' }, 'limit'], [{ limit: 'x' }, 'limit'], [{ cursor: 'nope' }, 'cursor']]) {
      fails(await teams(pager, { path, query }), 400, 'validation_error', field);
    }
  }
});

test('the direct add is gone: no function adds a member without their acceptance, and nobody writes invitations or members through PostgREST', async () => {
  const team = await newTeam(owner);
  for (const user of [owner, ann]) {
    const r = await rpc(user, 'hangar_add_team_member', { p_team_id: team.id, p_identifier: ann.user.id });
    assert.ok(refused(r) && r.json?.ok !== true, `hangar_add_team_member is no endpoint: ${show(r)}`);
  }
  const names = (await rows`select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public' and p.prosrc ilike '%insert into public.team_members%'`).map((r) => r.proname).sort();
  assert.deepEqual(names, ['hangar_create_team', 'hangar_join_team'], 'only the owner\'s own row and an accepted invitation make a member');
  ok(await invite(owner, team.id, ann.user.id), 202);
  for (const user of [owner, ann]) {
    const res = await asUser(user, `/team_invitations?team_id=eq.${team.id}`);
    assert.ok(refused(res) || (Array.isArray(res.json) && res.json.length === 0), `invitations are not readable through PostgREST: ${show(res)}`);
    const ins = await asUser(user, '/team_invitations', { method: 'POST', body: { team_id: team.id, identifier: 'x@example.com', invited_by: owner.user.id } });
    assert.ok(refused(ins), show(ins));
  }
  assert.deepEqual(await memberIds(team.id), [owner.user.id]);
});
