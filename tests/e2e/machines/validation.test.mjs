// create-machine input rules (API.md §1, §3) and the credit check (402): a refused request
// creates nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fn, ok, fails, signIn } from '../lib/api.mjs';
import {
  createRaw, createProject, countMachines, setBalance, hourlyCents, machineRow, sshPublicKey, newName, assertMachine,
} from '../lib/machines.mjs';
import { stopRunner, startRunner } from '../lib/runner.mjs';

// The runner stays down: jobs wait in the outbox, as these tests assume.
before(stopRunner);
after(startRunner);

let user, other;
let othersProject;

before(async () => {
  [user, other] = await Promise.all([signIn(), signIn()]);
  othersProject = await createProject(other);
});

const create = (body, u = user) => fn('create-machine', { token: u.accessToken, body });

const invalid = [
  ['name missing', {}, 'name'],
  ['name empty', { name: '' }, 'name'],
  ['name only spaces', { name: '   ' }, 'name'],
  ['name 64 chars', { name: 'a'.repeat(64) }, 'name'],
  ['name with a slash', { name: 'bad/name' }, 'name'],
  ['name a number', { name: 42 }, 'name'],
  ['name null', { name: null }, 'name'],
  ['tier unknown', { name: 'a', tier: 'dev.huge' }, 'tier'],
  ['provider unknown', { name: 'a', provider: 'digitalocean' }, 'provider'],
  ['region with bad characters', { name: 'a', region: 'US East!' }, 'region'],
  ['configuration an array', { name: 'a', configuration: [1] }, 'configuration'],
  ['configuration a string', { name: 'a', configuration: '{}' }, 'configuration'],
  ['configuration over 16 KiB', { name: 'a', configuration: { blob: 'x'.repeat(17 * 1024) } }, 'configuration'],
  ['sshPublicKey "hello"', { name: 'a', sshPublicKey: 'hello' }, 'sshPublicKey'],
  ['sshPublicKey "ssh-rsa !!!"', { name: 'a', sshPublicKey: 'ssh-rsa !!!' }, 'sshPublicKey'],
  ['projectId not a uuid', { name: 'a', projectId: 'p1' }, 'projectId'],
  ['projectId of another user', { name: 'a', projectId: null /* set below */ }, 'projectId'],
  ['projectId unknown', { name: 'a', projectId: randomUUID() }, 'projectId'],
  ['unknown field', { name: 'a', color: 'red' }, 'color'],
  ['snake_case field', { name: 'a', project_id: randomUUID() }, 'project_id'],
];

for (const [label, body, field] of invalid) {
  test(`create-machine refuses ${label} (400, field ${field}), nothing created`, async () => {
    if (label === 'projectId of another user') body.projectId = othersProject.id;
    const before = await countMachines(user.user.id);
    fails(await create(body), 400, 'validation_error', field);
    assert.equal(await countMachines(user.user.id), before, 'no machine created');
  });
}

test('create-machine accepts the edges: 63-character name, spaces, - and _, 16 KiB-ish configuration', async () => {
  const name63 = 'a'.repeat(63);
  assert.equal(ok(await create({ name: name63 }), 201).name, name63);
  const spaced = ok(await create({ name: 'My dev_box-2' }), 201);
  assert.equal(spaced.name, 'My dev_box-2');
  const configuration = { blob: 'x'.repeat(15 * 1024) };
  assert.deepEqual(ok(await create({ name: 'big-config', configuration }), 201).configuration, configuration);
});

test('create-machine accepts a real OpenSSH key and stores it as given', async () => {
  const key = sshPublicKey('me@laptop');
  const m = assertMachine(ok(await create({ name: newName(), sshPublicKey: key }), 201));
  assert.equal((await machineRow(m.id)).ssh_public_key, key);
});

test('create-machine: body rules of §1 (not JSON → 400 invalid_json, wrong media type → 415)', async () => {
  const before = await countMachines(user.user.id);
  fails(await fn('create-machine', { token: user.accessToken, rawBody: '{"name":', headers: { 'content-type': 'application/json' } }), 400, 'invalid_json');
  fails(await fn('create-machine', { token: user.accessToken, rawBody: 'name=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
  assert.equal(await countMachines(user.user.id), before);
});

// ---- 402 -------------------------------------------------------------------------------------

test('create-machine with a zero balance → 402 insufficient_credits, nothing created', async () => {
  const u = await signIn();
  await setBalance(u.user.id, 0);
  fails(await createRaw(u), 402, 'insufficient_credits');
  assert.equal(await countMachines(u.user.id), 0);
});

test('create-machine with exactly one hour of the tier\'s price → 201; one cent less → 402', async () => {
  const u = await signIn();
  assert.equal(hourlyCents('dev.small'), 1);
  await setBalance(u.user.id, hourlyCents('dev.small'));
  const m = ok(await createRaw(u), 201);
  assert.equal(m.tier, 'dev.small');

  // The balance covers every machine the account would then have running: the small one too.
  const medium = hourlyCents('dev.small') + hourlyCents('dev.medium'); // 1 + ceil(1200 / 730) = 3
  await setBalance(u.user.id, medium - 1);
  const before = await countMachines(u.user.id);
  fails(await createRaw(u, { tier: 'dev.medium' }), 402, 'insufficient_credits');
  assert.equal(await countMachines(u.user.id), before);
  await setBalance(u.user.id, medium);
  assert.equal(ok(await createRaw(u, { tier: 'dev.medium' }), 201).tier, 'dev.medium');
});
