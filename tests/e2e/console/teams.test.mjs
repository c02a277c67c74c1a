// A team in the console (API.md §8, team invitations): the owner invites a second user by
// email; the second user, in a second browser context, sees the invitation, accepts it
// and then sees the team's machine. Declining removes the invitation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { launch, nav, openConsole, shot, signIn } from '../lib/console.mjs';

let browser;
before(async () => { browser = await launch(); });
after(() => browser?.close());

const email = (who) => `${who}-${randomBytes(5).toString('hex')}@hangar.test`;

async function teamWithMachine(page, team, machine) {
  await nav(page, 'Teams');
  await page.getByLabel('Team name').fill(team);
  await page.getByRole('button', { name: 'Create team' }).click();
  await page.getByRole('table', { name: 'Teams' }).getByRole('link', { name: team }).waitFor();
  await nav(page, 'Machines');
  await page.getByRole('link', { name: 'New machine' }).click();
  await page.getByLabel('Name').fill(machine);
  await page.getByLabel('Team').selectOption({ label: team });
  await page.getByRole('button', { name: 'Create machine' }).click();
  await page.getByRole('heading', { level: 1, name: machine }).waitFor();
}

async function invite(page, team, who) {
  await nav(page, 'Teams');
  await page.getByRole('table', { name: 'Teams' }).getByRole('link', { name: team }).click();
  await page.getByRole('heading', { name: `Members of ${team}` }).waitFor();
  await page.getByLabel('Invite by email, wallet or account id').fill(who);
  await page.getByRole('button', { name: 'Send invitation' }).click();
  await page.getByRole('status').filter({ hasText: `Invitation sent to ${who}` }).waitFor();
}

test('invite a second user, who accepts in a second context and sees the machine', { timeout: 90000 }, async () => {
  const owner = await openConsole(browser);
  const member = await openConsole(browser);
  const memberEmail = email('member');
  await signIn(owner.page);
  await signIn(member.page, { email: memberEmail });
  await teamWithMachine(owner.page, 'Console crew', 'crew box');

  await invite(owner.page, 'Console crew', memberEmail);
  await shot(owner.page, 'teams');

  await nav(member.page, 'Teams');
  const invitations = member.page.getByRole('list', { name: 'Invitations' });
  await invitations.getByText('Console crew').waitFor();
  await shot(member.page, 'teams-invitation');
  await member.page.getByRole('button', { name: 'Accept invitation to Console crew' }).click();
  await member.page.getByRole('table', { name: 'Teams' }).getByRole('link', { name: 'Console crew' }).waitFor();
  await member.page.getByText('No pending invitations.').waitFor();

  await nav(member.page, 'Machines');
  await member.page.getByRole('table', { name: 'Machines' }).getByRole('link', { name: 'crew box' }).waitFor();
  // The owner sees the new member.
  await owner.page.reload();
  await owner.page.getByRole('list', { name: 'Members' }).getByText(memberEmail).waitFor();
  assert.deepEqual([...owner.problems, ...member.problems], []);
});

test('a declined invitation is gone and grants nothing', { timeout: 90000 }, async () => {
  const owner = await openConsole(browser);
  const other = await openConsole(browser);
  const otherEmail = email('other');
  await signIn(owner.page);
  await signIn(other.page, { email: otherEmail });
  await teamWithMachine(owner.page, 'Declined crew', 'declined box');
  await invite(owner.page, 'Declined crew', otherEmail);

  await nav(other.page, 'Teams');
  await other.page.getByRole('button', { name: 'Decline invitation to Declined crew' }).click();
  await other.page.getByText('No pending invitations.').waitFor();
  await other.page.getByText('No teams yet.').waitFor();
  await nav(other.page, 'Machines');
  await other.page.getByText('No machines yet.').waitFor();
  assert.deepEqual([...owner.problems, ...other.problems], []);
});
