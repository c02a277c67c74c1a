// The runner in Terraform mode (API.md §5), end to end: a runner of our own (RUNNER_BIN on a
// free port) with a stand-in `terraform` that checks its arguments and the contract variables
// and prints Terraform's -json lines; jobs written into the database and delivered by hand,
// so that the stack's own (simulate) runner never sees them; callbacks to the stack's
// runner-callback move the machines.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, ROOT } from '../lib/env.mjs';
import { signIn } from '../lib/api.mjs';
import { sql, sshPublicKey, newName } from '../lib/machines.mjs';
import {
  spawnRunner, sendWebhook, insertMachine, insertJob, deliveryBody, newAgentToken, waitForStatus, waitFor,
  getJob, logsOf, jobRow,
} from '../lib/runner.mjs';

// The runner's own public key: every machine gets it (terraform variable runner_ssh_public_key).
const RUNNER_KEY = sshPublicKey('runner@hangar');

const CONTRACT = [
  'machine_id', 'name', 'cpu', 'memory_mb', 'disk_gb', 'region', 'image', 'ssh_authorized_keys', 'runner_ssh_public_key', 'agent_token',
  'functions_url', 'power_state', 'ports',
];

// Speaks enough of Terraform's CLI. Every call is recorded as a JSON line in calls.jsonl:
// { cwd, argv, tfvars (the parsed terraform.tfvars.json of its cwd, or null), mode, hasMain }.
// Unexpected arguments, a missing main.tf.json or tfvars without exactly the contract
// variables exit 2 with the reason on stderr (and in bad.log).
const STAND_IN = String.raw`#!/usr/bin/env bash
rec='__REC__'
node='__NODE__'
contract='__CONTRACT__'
bad() { printf '%s\n' "stand-in: $*" >&2; printf '%s\n' "$*" >> "$rec/bad.log"; exit 2; }
ts() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }
line() { printf '{"@level":"%s","@message":"%s","@module":"terraform.ui","@timestamp":"%s","type":"%s"}\n' "$1" "$2" "$(ts)" "$3"; }
"$node" -e '
  const fs = require("fs");
  const [file, cwd, ...argv] = process.argv.slice(1);
  const f = cwd + "/terraform.tfvars.json";
  let tfvars = null, mode = null;
  try { tfvars = JSON.parse(fs.readFileSync(f, "utf8")); mode = (fs.statSync(f).mode & 0o777).toString(8); } catch {}
  fs.appendFileSync(file, JSON.stringify({ cwd, argv, tfvars, mode, hasMain: fs.existsSync(cwd + "/main.tf.json") }) + "\n");
' "$rec/calls.jsonl" "$PWD" "$@" || bad "cannot record the call"
[ -f main.tf.json ] || bad "no main.tf.json in $PWD"
# The state's place comes in the environment (never on a command line), one workspace per machine.
[ "$PG_CONN_STR" = '__STATE__' ] || bad "PG_CONN_STR is not the state database"
[ "$PG_SCHEMA_NAME" = 'terraform_state' ] || bad "PG_SCHEMA_NAME=$PG_SCHEMA_NAME"
case "$1" in
  init|workspace) [ -z "$TF_WORKSPACE" ] || bad "TF_WORKSPACE=$TF_WORKSPACE for $1" ;;
  *) [ "$TF_WORKSPACE" = "$(basename "$PWD")" ] || bad "TF_WORKSPACE=$TF_WORKSPACE in $PWD" ;;
esac
contract_vars() {
  [ -f terraform.tfvars.json ] || bad "no terraform.tfvars.json in $PWD"
  "$node" -e '
    const v = JSON.parse(require("fs").readFileSync("terraform.tfvars.json", "utf8"));
    const got = Object.keys(v).sort().join(","), want = process.argv[1].split(",").sort().join(",");
    if (got !== want) { console.error("variables " + got + " instead of " + want); process.exit(1); }
  ' "$contract" || bad "terraform.tfvars.json does not hold exactly the contract variables"
}
name() { "$node" -p 'JSON.parse(require("fs").readFileSync("terraform.tfvars.json", "utf8")).name'; }
case "$1" in
  init)
    [ "$*" = "init -input=false -no-color" ] || bad "arguments: $*"
    echo "Initializing the backend..."
    echo ""
    echo "Terraform has been successfully initialized!"
    ;;
  workspace)
    [ "$*" = "workspace select -or-create=true -no-color $(basename "$PWD")" ] || bad "arguments: $*"
    echo "Switched to workspace."
    ;;
  apply)
    [ "$*" = "apply -auto-approve -input=false -json -lock-timeout=300s" ] || bad "arguments: $*"
    contract_vars
    line info "Terraform v1.9.8" version
    if [ "$(name)" = "fail-me" ]; then
      line info "aws_instance.this: Creating..." apply_start
      printf '{"@level":"error","@message":"Error: creating EC2 Instance: UnauthorizedOperation","@module":"terraform.ui","@timestamp":"%s","diagnostic":{"severity":"error","summary":"creating EC2 Instance: UnauthorizedOperation","detail":"You are not authorized to perform this operation."},"type":"diagnostic"}\n' "$(ts)"
      exit 1
    fi
    line info "aws_instance.this: Creating..." apply_start
    line info "aws_instance.this: Still creating... [10s elapsed]" apply_progress
    line info "aws_instance.this: Creation complete after 12s [id=i-0abc123]" apply_complete
    line info "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." change_summary
    echo '{"version":4}' > terraform.tfstate
    ;;
  output)
    [ "$*" = "output -json" ] || bad "arguments: $*"
    printf '%s\n' '{"ip_address":{"value":"203.0.113.7","type":"string"},"instance_id":{"value":"i-0abc123","type":"string"}}'
    ;;
  destroy)
    [ "$*" = "destroy -auto-approve -input=false -json -lock-timeout=300s" ] || bad "arguments: $*"
    contract_vars
    line info "aws_instance.this: Destroying... [id=i-0abc123]" apply_start
    line info "Destroy complete! Resources: 1 destroyed." change_summary
    ;;
  *) bad "arguments: $*" ;;
esac
`;

// The stand-in keeps no state: it only checks that this is where the runner says it is.
const STATE_URL = 'postgres://stand-in@127.0.0.1:1/state';

let tmp, rec, workdir, runner, user;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'hangar-e2e-tf-'));
  rec = join(tmp, 'rec');
  workdir = join(tmp, 'work');
  mkdirSync(rec);
  const bin = join(tmp, 'terraform');
  writeFileSync(bin, STAND_IN.replace('__REC__', rec).replace('__NODE__', process.execPath).replace('__CONTRACT__', CONTRACT.join(','))
    .replace('__STATE__', STATE_URL));
  chmodSync(bin, 0o755);
  runner = await spawnRunner({
    TERRAFORM_BIN: bin,
    RUNNER_MODULES_DIR: join(ROOT, 'terraform'),
    RUNNER_WORKDIR: workdir,
    RUNNER_MODE: 'terraform',
    RUNNER_STATE_DATABASE_URL: STATE_URL,
    RUNNER_LOG_FLUSH_MS: '200',
    RUNNER_SSH_PUBLIC_KEY: RUNNER_KEY,
  });
  const health = await (await fetch(`${runner.url}health`)).json();
  assert.equal(health.mode, 'terraform', `our runner is in Terraform mode: ${JSON.stringify(health)}`);
  user = await signIn();
});

after(async () => {
  await runner?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The recorded calls of the stand-in for one machine's directory. */
function callsOf(machineId) {
  const file = join(rec, 'calls.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .filter((c) => c.cwd.endsWith(`/machines/${machineId}`));
}
const badCalls = () => (existsSync(join(rec, 'bad.log')) ? readFileSync(join(rec, 'bad.log'), 'utf8') : '');
const runnerLines = (jobId) => runner.lines.filter((l) => l.jobId === jobId);

/** Writes a job into the database and delivers it to our runner (202). */
async function deliver(machineId, action, extra = {}) {
  const jobId = await insertJob(machineId, user.user.id, action);
  const body = await deliveryBody(jobId, extra);
  assert.equal(body.machine.id, machineId);
  const res = await sendWebhook(runner.url, body);
  assert.equal(res.status, 202, `our runner takes the job: ${res.status} ${res.text}`);
  assert.equal(res.json?.data?.jobId, jobId);
  return jobId;
}

/** Waits for a job to be finished in the database (bounded), with the runner's log on failure. */
async function finished(jobId) {
  try {
    return await waitFor(() => jobRow(jobId), (j) => j.status === 'succeeded' || j.status === 'failed', { timeoutMs: 20000, what: `job ${jobId} to finish` });
  } catch (e) {
    throw new Error(`${e.message}\nstand-in refusals: ${badCalls()}\nrunner log: ${JSON.stringify(runnerLines(jobId))}\nrunner stderr: ${runner.stderr.slice(-20).join('\n')}`);
  }
}

let okMachine, agentToken, key;

test('create: init, apply, output → the machine is running with the Terraform outputs', { timeout: 40000 }, async () => {
  key = sshPublicKey('tf@hangar');
  agentToken = newAgentToken();
  const name = newName('tf');
  okMachine = await insertMachine(user.user.id, { name });
  await sql`update machines set ssh_public_key = ${key} where id = ${okMachine}`;
  const jobId = await deliver(okMachine, 'create', { agentToken });
  const job = await finished(jobId);
  assert.equal(job.status, 'succeeded', `job: ${JSON.stringify(job)}; stand-in refusals: ${badCalls()}`);

  const m = await waitForStatus(user, okMachine, 'running', { timeoutMs: 5000 });
  assert.equal(m.ipAddress, '203.0.113.7');
  assert.equal(m.providerInstanceId, 'i-0abc123');
  assert.ok(m.lastStarted, 'lastStarted is set');
  assert.equal(m.pendingJob, null);
  assert.equal((await getJob(user, jobId)).status, 'succeeded');

  const calls = callsOf(okMachine);
  assert.deepEqual(calls.map((c) => c.argv.join(' ')), [
    'init -input=false -no-color',
    `workspace select -or-create=true -no-color ${okMachine}`,
    'apply -auto-approve -input=false -json -lock-timeout=300s',
    'output -json',
  ], `terraform calls: ${JSON.stringify(calls.map((c) => c.argv))}`);
  assert.equal(badCalls(), '', 'the stand-in refused nothing');
  const apply = calls[2];
  assert.ok(apply.hasMain, 'main.tf.json is in the working directory');
  assert.deepEqual(Object.keys(apply.tfvars).sort(), [...CONTRACT].sort(), 'exactly the contract variables');
  assert.deepEqual(apply.tfvars, {
    machine_id: okMachine,
    name,
    cpu: 0.5,
    memory_mb: 1024,
    disk_gb: 10,
    region: 'us-east-1',
    image: 'ubuntu-22.04',
    ssh_authorized_keys: [key],
    runner_ssh_public_key: RUNNER_KEY,
    agent_token: agentToken,
    functions_url: env.FUNCTIONS_URL,
    power_state: 'running',
    ports: [],
  });
  assert.equal(apply.mode, '600', 'terraform.tfvars.json is private (it holds the agent token)');

  const dir = join(workdir, 'machines', okMachine);
  const root = JSON.parse(readFileSync(join(dir, 'main.tf.json'), 'utf8'));
  assert.equal(root.module.machine.source, './module/aws');
  assert.deepEqual(root.terraform, { backend: { pg: {} } }, 'the state lives in Postgres');
  assert.ok(existsSync(join(dir, 'module', 'aws', 'variables.tf')), 'the modules were copied');

  const logs = (await logsOf(user, okMachine)).filter((e) => e.eventType === 'runner.log');
  const messages = logs.map((e) => e.details?.message);
  for (const want of [
    'terraform init -input=false -no-color',
    'Initializing the backend...',
    'aws_instance.this: Creating...',
    'aws_instance.this: Still creating... [10s elapsed]',
    'aws_instance.this: Creation complete after 12s [id=i-0abc123]',
    'Apply complete! Resources: 1 added, 0 changed, 0 destroyed.',
  ]) {
    assert.ok(messages.includes(want), `runner.log event "${want}" missing: ${JSON.stringify(messages)}`);
  }
  for (const e of logs) {
    assert.equal(e.source, 'runner');
    assert.equal(e.details.jobId, jobId);
  }
  assert.ok(!messages.some((s) => s.includes(agentToken)), 'the agent token is never logged');
  assert.ok(!JSON.stringify(runner.lines).includes(agentToken), 'nor in the runner\'s own log');
  assert.ok(runnerLines(jobId).some((l) => l.event === 'job_accepted'), 'job_accepted in our runner\'s log');
});

test('stop: apply with power_state stopped (no agent token: only create has one) → stopped', { timeout: 40000 }, async () => {
  assert.ok(okMachine, 'the machine of the previous test');
  await sql`update machines set status = 'stopping' where id = ${okMachine}`;
  const jobId = await deliver(okMachine, 'stop');
  const job = await finished(jobId);
  assert.equal(job.status, 'succeeded', `job: ${JSON.stringify(job)}; stand-in refusals: ${badCalls()}`);
  const m = await waitForStatus(user, okMachine, 'stopped', { timeoutMs: 5000 });
  assert.ok(m.lastStopped);
  assert.equal(m.ipAddress, '203.0.113.7');
  const calls = callsOf(okMachine).slice(4);
  assert.deepEqual(calls.map((c) => c.argv[0]), ['init', 'workspace', 'apply']);
  assert.equal(calls[2].tfvars.power_state, 'stopped');
  assert.equal(calls[2].tfvars.agent_token, '', 'the modules ignore later changes of what cloud-init got');
  assert.deepEqual(Object.keys(calls[2].tfvars).sort(), [...CONTRACT].sort());
});

test('terminate: destroy → terminated, the working directory (a cache) is removed', { timeout: 40000 }, async () => {
  assert.ok(okMachine, 'the machine of the previous tests');
  await sql`update machines set status = 'terminating' where id = ${okMachine}`;
  const jobId = await deliver(okMachine, 'terminate');
  const job = await finished(jobId);
  assert.equal(job.status, 'succeeded', `job: ${JSON.stringify(job)}; stand-in refusals: ${badCalls()}`);
  await waitForStatus(user, okMachine, 'terminated', { timeoutMs: 5000 });
  const calls = callsOf(okMachine).slice(7);
  assert.deepEqual(calls.map((c) => c.argv.join(' ')), [
    'init -input=false -no-color', `workspace select -or-create=true -no-color ${okMachine}`, 'destroy -auto-approve -input=false -json -lock-timeout=300s',
  ]);
  assert.deepEqual(Object.keys(calls[2].tfvars).sort(), [...CONTRACT].sort());
  assert.ok(!existsSync(join(workdir, 'machines', okMachine)), 'machines/<id> is gone');
  const messages = (await logsOf(user, okMachine)).filter((e) => e.eventType === 'runner.log').map((e) => e.details?.message);
  assert.ok(messages.includes('Destroy complete! Resources: 1 destroyed.'), JSON.stringify(messages));
});

test('a failing apply (machine fail-me) → job failed, machine error, the error text in a job.failed event', { timeout: 40000 }, async () => {
  const id = await insertMachine(user.user.id, { name: 'fail-me' });
  const jobId = await deliver(id, 'create', { agentToken: newAgentToken() });
  const job = await finished(jobId);
  assert.equal(job.status, 'failed', `job: ${JSON.stringify(job)}; stand-in refusals: ${badCalls()}`);
  assert.match(job.error ?? '', /terraform apply failed \(exit 1\)/, `job.error: ${job.error}`);
  assert.match(job.error, /Error: creating EC2 Instance: UnauthorizedOperation/);

  const m = await waitForStatus(user, id, 'error', { timeoutMs: 5000 });
  assert.equal(m.ipAddress, null);
  assert.equal(m.providerInstanceId, null);
  assert.equal(m.lastStarted, null);
  assert.deepEqual(callsOf(id).map((c) => c.argv[0]), ['init', 'workspace', 'apply'], 'no output after a failed apply');
  assert.equal(badCalls(), '', 'the stand-in refused nothing');

  const events = await logsOf(user, id);
  const failed = events.filter((e) => e.eventType === 'job.failed');
  assert.equal(failed.length, 1, `one job.failed: ${JSON.stringify(events.map((e) => e.eventType))}`);
  assert.equal(failed[0].level, 'error');
  assert.equal(failed[0].details?.jobId, jobId);
  assert.match(failed[0].details?.error ?? '', /UnauthorizedOperation/, `job.failed details: ${JSON.stringify(failed[0].details)}`);
  const logs = events.filter((e) => e.eventType === 'runner.log');
  const errorLine = logs.find((e) => e.level === 'error' && /UnauthorizedOperation/.test(e.details?.message));
  assert.ok(errorLine, `an error-level runner.log with Terraform's diagnostic: ${JSON.stringify(logs.map((e) => [e.level, e.details?.message]))}`);
  assert.match(errorLine.details.message, /You are not authorized to perform this operation\./, 'the diagnostic\'s detail is kept');
  assert.ok(logs.some((e) => e.details?.message === 'aws_instance.this: Creating...'));
});
