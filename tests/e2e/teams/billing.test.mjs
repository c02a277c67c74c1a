// Charges in a team go to the machine's creator (API.md §7): the meter charges the
// creator's account for a team machine whoever started it, the team owner's and the
// other members' ledgers are untouched, every member sees the machine's cost, and a
// member's start needs the creator's balance (402 when the creator is out of credits,
// however rich the member). The creator's quota counts it too.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { ok, fails, signIn } from '../lib/api.mjs';
import { act, createRaw, getStatus, setBalance, setMachineLimit, value } from '../lib/machines.mjs';
import { waitForStatus } from '../lib/runner.mjs';
import { ledger, meter, chargedTo } from '../lib/billing.mjs';
import { teamWith, runningTeamMachine, rich } from '../lib/teams.mjs';

let owner, creator, member;
before(async () => {
  [owner, creator, member] = await Promise.all([signIn(), signIn(), signIn()]);
  await rich(owner, creator, member);
});

test('the meter charges a team machine to its creator, not to the member who started it nor to the team\'s owner', { timeout: 90000 }, async () => {
  const team = await teamWith(owner, creator, member);
  const m = await runningTeamMachine(creator, team.id, { tier: 'dev.xlarge' });
  ok(await act(member, 'stop', m.id), 202);
  await waitForStatus(member, m.id, 'stopped', { timeoutMs: 30000 });
  ok(await act(member, 'start', m.id), 202);
  await waitForStatus(member, m.id, 'running', { timeoutMs: 30000 });

  const [ownerBefore, memberBefore] = [await ledger(owner.user.id), await ledger(member.user.id)];
  const creatorBefore = await ledger(creator.user.id);
  // Two hours on from now for the creator's account only (dev.xlarge: 4800 / 730 cents an hour).
  const later = new Date(Date.now() + 2 * 3600_000);
  await meter(later, creator.user.id);
  await meter(later, member.user.id);
  await meter(later, owner.user.id);
  const charged = await chargedTo(m.id);
  assert.ok(charged >= 13, `about two hours of dev.xlarge charged: ${charged}`);
  const creatorAfter = await ledger(creator.user.id);
  assert.equal(creatorAfter.charges - creatorBefore.charges, charged, 'every charge of the machine is the creator\'s');
  assert.equal(creatorAfter.balance, creatorBefore.balance - charged);
  assert.equal(Number(await value`select count(*) from billing_records where machine_id = ${m.id} and account_id <> ${creator.user.id}`), 0);
  assert.deepEqual(await ledger(owner.user.id), ownerBefore, 'the team owner pays nothing');
  assert.deepEqual(await ledger(member.user.id), memberBefore, 'the member who started it pays nothing');
  // Every member sees what it cost (the records themselves stay the creator's).
  for (const u of [owner, member]) assert.equal(ok(await getStatus(u, m.id)).totalCostCents, charged);
});

test('a member\'s start needs the creator\'s balance: 402 while the creator is at zero, however rich the member', { timeout: 90000 }, async () => {
  const team = await teamWith(owner, creator, member);
  const m = await runningTeamMachine(creator, team.id);
  ok(await act(member, 'stop', m.id), 202);
  await waitForStatus(member, m.id, 'stopped', { timeoutMs: 30000 });
  await setBalance(creator.user.id, 0);
  try {
    const refused = fails(await act(member, 'start', m.id), 402, 'insufficient_credits');
    assert.equal(refused.details.balanceCents, 0, 'the balance in question is the creator\'s');
    fails(await act(owner, 'start', m.id), 402, 'insufficient_credits');
    // A member's own machine in the team is theirs to pay for.
    assert.equal((await createRaw(member, { teamId: team.id })).status, 201);
  } finally {
    await setBalance(creator.user.id, 100000);
  }
  assert.equal(ok(await act(member, 'start', m.id), 202).status, 'starting');
});

test('a team machine counts in its creator\'s quota, not in the team owner\'s', { timeout: 60000 }, async () => {
  const team = await teamWith(owner, creator);
  await setMachineLimit(creator.user.id, 0);
  try {
    fails(await createRaw(creator, { teamId: team.id }), 403, 'quota_exceeded');
  } finally {
    await setMachineLimit(creator.user.id, 100);
  }
  const before = Number(await value`select count(*) from machines where owner_id = ${owner.user.id}`);
  const made = ok(await createRaw(creator, { teamId: team.id }), 201);
  assert.equal(await value`select owner_id from machines where id = ${made.id}`, creator.user.id);
  assert.equal(Number(await value`select count(*) from machines where owner_id = ${owner.user.id}`), before, 'the owner has no new machine');
});
