// terraform-modules: static checks of terraform/{aws,gcp,azure} and the shared
// cloud-init against the module contract (API.md §5, terraform/README.md).
// Needs no running stack (it does not load lib/env.mjs) and no terraform binary:
// HCL is parsed with @cdktf/hcl2json (a WASM build of hcl2json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../terraform');
const TEMPLATE = path.join(ROOT, 'agent/cloud-init.yaml.tftpl');
const MODULES = ['aws', 'gcp', 'azure'];

const CONTRACT_VARIABLES = [
  'machine_id', 'name', 'cpu', 'memory_mb', 'disk_gb', 'region', 'image',
  'ssh_authorized_keys', 'runner_ssh_public_key', 'agent_token', 'functions_url', 'power_state', 'ports',
];
const VARIABLE_TYPES = {
  machine_id: 'string', name: 'string', cpu: 'number', memory_mb: 'number', disk_gb: 'number',
  region: 'string', image: 'string', ssh_authorized_keys: 'list(string)', runner_ssh_public_key: 'string', agent_token: 'string',
  functions_url: 'string', power_state: 'string', ports: 'list(number)',
};
const CONTRACT_OUTPUTS = ['instance_id', 'ip_address'];

// The four tiers of API.md §3, keyed "<cpu>-<memory_mb>".
const TIER_KEYS = ['0.5-1024', '1-2048', '2-4096', '4-8192'];
const INSTANCE_TYPES = {
  aws: { '0.5-1024': 't3.micro', '1-2048': 't3.small', '2-4096': 't3.medium', '4-8192': 't3.large' },
  gcp: { '0.5-1024': 'e2-micro', '1-2048': 'e2-small', '2-4096': 'e2-medium', '4-8192': 'e2-standard-2' },
  azure: { '0.5-1024': 'Standard_B1s', '1-2048': 'Standard_B1ms', '2-4096': 'Standard_B2s', '4-8192': 'Standard_B2ms' },
};
const PROVIDERS = { aws: 'hashicorp/aws', gcp: 'hashicorp/google', azure: 'hashicorp/azurerm' };
const INSTANCE_RESOURCE = {
  aws: ['aws_instance', 'this'],
  gcp: ['google_compute_instance', 'this'],
  azure: ['azurerm_linux_virtual_machine', 'this'],
};
const TEMPLATE_VARS = ['ssh_authorized_keys', 'agent_token', 'functions_url'];
// What each module passes the template: the keys as one local (the machine's, then the runner's).
const TEMPLATE_SOURCES = { ssh_authorized_keys: 'local\\.authorized_keys', agent_token: 'var\\.agent_token', functions_url: 'var\\.functions_url' };
const AUTHORIZED_KEYS_LOCAL =
  '${distinct(compact([for k in concat(var.ssh_authorized_keys, [var.runner_ssh_public_key]) : trimspace(k)]))}';

// The image names of the runner's default allowlist, and what each module maps them to.
const IMAGE_NAMES = ['ubuntu-22.04', 'ubuntu-24.04', 'debian-12'];
const IMAGES = {
  aws: {
    'ubuntu-22.04': { owner: '099720109477', name: 'ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*' },
    'ubuntu-24.04': { owner: '099720109477', name: 'ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-amd64-server-*' },
    'debian-12': { owner: '136693071363', name: 'debian-12-amd64-*' },
  },
  gcp: {
    'ubuntu-22.04': 'ubuntu-os-cloud/ubuntu-2204-lts',
    'ubuntu-24.04': 'ubuntu-os-cloud/ubuntu-2404-lts-amd64',
    'debian-12': 'debian-cloud/debian-12',
  },
  azure: {
    'ubuntu-22.04': { publisher: 'Canonical', offer: '0001-com-ubuntu-server-jammy', sku: '22_04-lts-gen2', version: 'latest' },
    'ubuntu-24.04': { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' },
    'debian-12': { publisher: 'Debian', offer: 'debian-12', sku: '12-gen2', version: 'latest' },
  },
};

// Parse every .tf file of a module; merge the blocks the way Terraform does.
const parsed = new Map();
async function loadModule(mod) {
  if (parsed.has(mod)) return parsed.get(mod);
  const dir = path.join(ROOT, mod);
  const files = (await readdir(dir)).filter((f) => f.endsWith('.tf')).sort();
  const out = { files: {}, errors: {}, variable: {}, output: {}, locals: {}, resource: {}, data: {}, provider: {}, terraform: [] };
  for (const f of files) {
    const text = await readFile(path.join(dir, f), 'utf8');
    let json;
    try {
      json = await parse(f, text);
    } catch (e) {
      out.errors[f] = String(e);
      continue;
    }
    out.files[f] = { text, json };
    for (const [name, blocks] of Object.entries(json.variable ?? {})) {
      assert.ok(!(name in out.variable), `${mod}: variable ${name} declared twice`);
      out.variable[name] = blocks[0];
    }
    for (const [name, blocks] of Object.entries(json.output ?? {})) {
      assert.ok(!(name in out.output), `${mod}: output ${name} declared twice`);
      out.output[name] = blocks[0];
    }
    for (const block of json.locals ?? []) Object.assign(out.locals, block);
    for (const kind of ['resource', 'data']) {
      for (const [type, byName] of Object.entries(json[kind] ?? {})) {
        out[kind][type] ??= {};
        for (const [name, blocks] of Object.entries(byName)) out[kind][type][name] = blocks[0];
      }
    }
    for (const [name, blocks] of Object.entries(json.provider ?? {})) out.provider[name] = blocks;
    out.terraform.push(...(json.terraform ?? []));
  }
  parsed.set(mod, out);
  return out;
}

const sorted = (xs) => [...xs].sort();
const typeOf = (v) => String(v?.type ?? '').replace(/^\$\{(.*)\}$/, '$1');

for (const mod of MODULES) {
  test(`${mod}: the module has versions.tf, variables.tf, main.tf, outputs.tf and every .tf file parses`, async () => {
    const m = await loadModule(mod);
    assert.deepEqual(m.errors, {}, `${mod}: HCL parse errors`);
    for (const f of ['versions.tf', 'variables.tf', 'main.tf', 'outputs.tf']) {
      assert.ok(f in m.files, `${mod}/${f} exists and parses`);
    }
  });

  test(`${mod}: pins Terraform and its provider`, async () => {
    const m = await loadModule(mod);
    const tf = Object.assign({}, ...m.terraform);
    assert.match(String(tf.required_version ?? ''), /\d+\.\d+/, 'required_version');
    const providers = Object.assign({}, ...(tf.required_providers ?? []));
    const main = Object.values(providers).find((p) => p?.source === PROVIDERS[mod]);
    assert.ok(main, `${mod}: required_providers has ${PROVIDERS[mod]}`);
    assert.match(String(main.version ?? ''), /\d/, `${mod}: ${PROVIDERS[mod]} has a version constraint`);
    for (const [name, p] of Object.entries(providers)) {
      assert.match(String(p?.version ?? ''), /\d/, `${mod}: provider ${name} has a version constraint`);
    }
  });

  test(`${mod}: declares exactly the contract variables with the contract types`, async () => {
    const m = await loadModule(mod);
    assert.deepEqual(sorted(Object.keys(m.variable)), sorted(CONTRACT_VARIABLES));
    for (const [name, type] of Object.entries(VARIABLE_TYPES)) {
      assert.equal(typeOf(m.variable[name]), type, `${mod}: variable ${name} type`);
      assert.ok(String(m.variable[name].description ?? '').length > 0, `${mod}: variable ${name} has a description`);
    }
    assert.equal(m.variable.agent_token.sensitive, true, 'agent_token is sensitive');
    assert.deepEqual(m.variable.ssh_authorized_keys.default, [], 'ssh_authorized_keys defaults to []');
    assert.equal(m.variable.runner_ssh_public_key.default, '', 'runner_ssh_public_key defaults to ""');
    assert.equal(m.variable.power_state.default, 'running', 'power_state defaults to "running"');
    assert.deepEqual(m.variable.ports.default, [], 'ports defaults to []');
    for (const name of CONTRACT_VARIABLES.filter((n) => !['ssh_authorized_keys', 'runner_ssh_public_key', 'power_state', 'ports'].includes(n))) {
      assert.ok(!('default' in m.variable[name]), `${mod}: ${name} is required (no default)`);
    }
  });

  test(`${mod}: power_state is validated to running|stopped and drives the power state`, async () => {
    const m = await loadModule(mod);
    const validations = m.variable.power_state.validation ?? [];
    assert.equal(validations.length, 1, 'power_state has a validation');
    const cond = validations[0].condition;
    assert.match(cond, /var\.power_state/);
    assert.match(cond, /"running"/);
    assert.match(cond, /"stopped"/);
    assert.ok(validations[0].error_message, 'validation has an error_message');

    if (mod === 'aws') {
      const state = m.resource.aws_ec2_instance_state?.this;
      assert.ok(state, 'aws_ec2_instance_state.this');
      assert.match(state.instance_id, /aws_instance\.this\.id/);
      assert.match(state.state, /var\.power_state == "running" \? "running" : "stopped"/);
    } else if (mod === 'gcp') {
      const vm = m.resource.google_compute_instance.this;
      assert.match(vm.desired_status, /upper\(var\.power_state\) == "RUNNING" \? "RUNNING" : "TERMINATED"/);
      assert.equal(vm.allow_stopping_for_update, true);
    } else {
      const actions = m.resource.azapi_resource_action ?? {};
      assert.equal(actions.start?.action, 'start');
      assert.equal(actions.deallocate?.action, 'deallocate');
      assert.match(actions.start.count, /var\.power_state == "running"/);
      assert.match(actions.deallocate.count, /var\.power_state == "stopped"/);
      for (const a of [actions.start, actions.deallocate]) {
        assert.match(a.resource_id, /azurerm_linux_virtual_machine\.this\.id/);
        assert.match(a.type, /^Microsoft\.Compute\/virtualMachines@\d{4}-\d{2}-\d{2}$/);
      }
    }
  });

  test(`${mod}: outputs exactly ip_address and instance_id`, async () => {
    const m = await loadModule(mod);
    assert.deepEqual(sorted(Object.keys(m.output)), CONTRACT_OUTPUTS);
    for (const o of CONTRACT_OUTPUTS) assert.match(String(m.output[o].value ?? ''), /\$\{/, `${mod}: output ${o} has a value`);
  });

  test(`${mod}: maps the four tiers to instance types and refuses unknown sizes`, async () => {
    const m = await loadModule(mod);
    assert.deepEqual(sorted(Object.keys(m.locals.instance_types ?? {})), TIER_KEYS);
    assert.deepEqual(m.locals.instance_types, INSTANCE_TYPES[mod]);
    assert.equal(m.locals.size_key, '${var.cpu}-${var.memory_mb}');
    assert.match(m.locals.instance_type, /lookup\(local\.instance_types, local\.size_key, null\)/);
    const [type, name] = INSTANCE_RESOURCE[mod];
    const vm = m.resource[type]?.[name];
    assert.ok(vm, `${type}.${name}`);
    const pre = (vm.lifecycle ?? []).flatMap((l) => l.precondition ?? []);
    assert.ok(pre.some((p) => /local\.instance_type != null/.test(p.condition)), 'precondition on the instance type');
  });

  test(`${mod}: renders the shared cloud-init, tags the machine and opens SSH`, async () => {
    const m = await loadModule(mod);
    const cloudInit = String(m.locals.cloud_init ?? '');
    assert.match(cloudInit, /templatefile\("\$\{path\.module\}\/\.\.\/agent\/cloud-init\.yaml\.tftpl"/);
    for (const v of TEMPLATE_VARS) assert.match(cloudInit, new RegExp(`${v}\\s*=\\s*${TEMPLATE_SOURCES[v]}\\b`), `template var ${v}`);
    assert.equal(m.locals.authorized_keys, AUTHORIZED_KEYS_LOCAL, `${mod}: the user hangar's keys are the machine's, then the runner's, each once`);
    const tagSource = JSON.stringify(mod === 'gcp' ? m.locals.labels : m.locals.tags);
    assert.match(tagSource, /"hangar-machine-id":"\$\{var\.machine_id\}"/, 'hangar-machine-id tag/label');
    assert.match(tagSource, mod === 'gcp' ? /"name":"\$\{.*var\.name/ : /"Name":"\$\{var\.name\}"/, 'Name tag/label');

    const text = Object.values(m.files).map((f) => f.text).join('\n');
    if (mod === 'aws') {
      assert.match(m.resource.aws_instance.this.user_data, /local\.cloud_init/);
      assert.equal(m.resource.aws_vpc_security_group_ingress_rule.ssh.from_port, 22);
      assert.equal(m.resource.aws_vpc_security_group_egress_rule.all_ipv4.ip_protocol, '-1');
      assert.ok(m.resource.aws_eip?.this, 'a public (Elastic) IP');
    } else if (mod === 'gcp') {
      const vm = m.resource.google_compute_instance.this;
      assert.match(vm.metadata['user-data'], /local\.cloud_init/);
      assert.ok(vm.network_interface[0].access_config, 'an external IP');
      assert.deepEqual(m.resource.google_compute_firewall.ssh.allow[0].ports, ['22']);
      assert.equal(m.resource.google_compute_firewall.egress.direction, 'EGRESS');
    } else {
      const vm = m.resource.azurerm_linux_virtual_machine.this;
      assert.match(vm.custom_data, /base64encode\(local\.cloud_init\)/);
      assert.equal(vm.admin_username, 'hangar');
      const rules = m.resource.azurerm_network_security_group.this.security_rule;
      assert.ok(rules.some((r) => r.direction === 'Inbound' && r.destination_port_range === '22' && r.access === 'Allow'));
      assert.ok(m.resource.azurerm_public_ip?.this, 'a public IP');
      for (const t of ['azurerm_resource_group', 'azurerm_virtual_network', 'azurerm_subnet', 'azurerm_network_interface']) {
        assert.ok(m.resource[t]?.this, t);
      }
    }
    assert.doesNotMatch(text, /\bprovisioner\b/, 'no provisioners (local-exec/remote-exec)');
  });

  test(`${mod}: maps the image names ubuntu-22.04, ubuntu-24.04, debian-12 and refuses other plain names`, async () => {
    const m = await loadModule(mod);
    assert.deepEqual(m.locals.images, IMAGES[mod], `${mod}: local.images`);
    const [type, name] = INSTANCE_RESOURCE[mod];
    const pre = (m.resource[type][name].lifecycle ?? []).flatMap((l) => l.precondition ?? []);
    const imageLocal = mod === 'aws' ? 'ami' : 'image';
    const check = pre.find((p) => new RegExp(`local\\.${imageLocal} != null`).test(p.condition));
    assert.ok(check, `${mod}: a precondition refuses an image the module cannot map (local.${imageLocal} == null)`);
    assert.match(check.error_message, /ubuntu-22\.04, ubuntu-24\.04, debian-12/);
    // A plain name goes through the map and nowhere else (no silent default);
    // the provider's own references still pass through as given.
    assert.match(m.locals.image, /lookup\(local\.images, var\.image, null\)/);
    if (mod === 'aws') {
      assert.match(m.locals.use_ami_id, /startswith\(var\.image, "ami-"\)/);
      assert.match(m.locals.image, /local\.use_ami_id \? null : lookup/);
      assert.match(m.locals.ami, /^\$\{local\.use_ami_id \? var\.image : try\(data\.aws_ami\.this\[0\]\.id, null\)\}$/);
      const ami = m.data.aws_ami.this;
      assert.match(ami.count, /local\.image == null \? 0 : 1/);
      assert.deepEqual(ami.owners, ['${local.image.owner}']);
      assert.deepEqual(ami.filter.find((f) => f.name === 'name')?.values, ['${local.image.name}']);
      assert.deepEqual(ami.filter.find((f) => f.name === 'architecture')?.values, ['x86_64']);
      assert.equal(m.resource.aws_instance.this.ami, '${local.ami}');
    } else if (mod === 'gcp') {
      assert.match(m.locals.image, /^\$\{strcontains\(var\.image, "\/"\) \? var\.image : lookup/);
      assert.equal(m.resource.google_compute_instance.this.boot_disk[0].initialize_params[0].image, '${local.image}');
    } else {
      assert.equal(m.locals.image_urn, '${split(":", var.image)}');
      assert.match(m.locals.image, /^\$\{length\(local\.image_urn\) == 4 \? \{/);
      const ref = m.resource.azurerm_linux_virtual_machine.this.source_image_reference[0];
      for (const k of ['publisher', 'offer', 'sku', 'version']) assert.equal(ref[k], `\${try(local.image.${k}, null)}`);
    }
  });

  test(`${mod}: the machine has its own firewall: SSH and var.ports in, nothing from other machines, egress open`, async () => {
    const m = await loadModule(mod);
    // local.ports: var.ports as strings, without 22 (opened by its own rule).
    assert.match(m.locals.ports, /\[for (\w+) in var\.ports : tostring\(floor\(\1\)\) if \1 != 22\]/, `${mod}: local.ports iterates var.ports`);
    const text = Object.values(m.files).map((f) => f.text).join('\n');
    if (mod === 'aws') {
      const sg = m.resource.aws_security_group.this;
      assert.ok(sg, 'aws_security_group.this');
      assert.match(sg.name, /\$\{local\.resource_name\}/, 'named after the machine');
      assert.ok(!('ingress' in sg) && !('egress' in sg), 'no inline rules');
      assert.deepEqual(m.resource.aws_instance.this.vpc_security_group_ids, ['${aws_security_group.this.id}'],
        'the instance has only its own security group (not the VPC default group)');
      const ingress = m.resource.aws_vpc_security_group_ingress_rule;
      assert.deepEqual(sorted(Object.keys(ingress)), ['ports', 'ssh'], 'ingress rules: ssh and ports only');
      assert.deepEqual([ingress.ssh.ip_protocol, ingress.ssh.from_port, ingress.ssh.to_port], ['tcp', 22, 22]);
      assert.equal(ingress.ports.for_each, '${local.ports}');
      assert.equal(ingress.ports.ip_protocol, 'tcp');
      assert.equal(ingress.ports.from_port, '${tonumber(each.value)}');
      assert.equal(ingress.ports.to_port, '${tonumber(each.value)}');
      for (const [n, r] of Object.entries(ingress)) {
        assert.equal(r.security_group_id, '${aws_security_group.this.id}', `ingress ${n} is on the machine's group`);
        assert.equal(r.cidr_ipv4, '0.0.0.0/0', `ingress ${n}: from anywhere, like the Internet`);
        for (const k of ['referenced_security_group_id', 'prefix_list_id', 'cidr_ipv6']) assert.ok(!(k in r), `ingress ${n} has no ${k}`);
      }
      const egress = m.resource.aws_vpc_security_group_egress_rule;
      assert.deepEqual(sorted(Object.keys(egress)), ['all_ipv4', 'all_ipv6']);
      assert.equal(egress.all_ipv4.cidr_ipv4, '0.0.0.0/0');
      assert.equal(egress.all_ipv6.cidr_ipv6, '::/0');
      assert.ok(!m.resource.aws_security_group_rule, 'no legacy aws_security_group_rule');
      assert.doesNotMatch(text, /cidr_block|aws_default_security_group/, 'nothing opens the VPC CIDR or the default group');
    } else if (mod === 'gcp') {
      const net = m.resource.google_compute_network?.this;
      assert.ok(net, 'google_compute_network.this: a network of its own');
      assert.equal(net.name, '${local.resource_name}');
      assert.equal(net.auto_create_subnetworks, false);
      const subnet = m.resource.google_compute_subnetwork?.this;
      assert.ok(subnet, 'google_compute_subnetwork.this');
      assert.equal(subnet.network, '${google_compute_network.this.id}');
      assert.equal(subnet.region, '${local.region}');
      const nic = m.resource.google_compute_instance.this.network_interface[0];
      assert.equal(nic.subnetwork, '${google_compute_subnetwork.this.id}');
      assert.ok(!('network' in nic), 'the instance is on the subnet only');
      assert.doesNotMatch(text, /^\s*(sub)?network\s*=\s*"default"/m, 'nothing uses the default network');
      assert.match(m.locals.network_tag, /\$\{var\.machine_id\}/, 'a network tag unique to the machine');
      assert.deepEqual(m.resource.google_compute_instance.this.tags, ['${local.network_tag}']);
      const fw = m.resource.google_compute_firewall;
      assert.deepEqual(sorted(Object.keys(fw)), ['egress', 'ports', 'ssh']);
      for (const [n, r] of Object.entries(fw)) {
        assert.equal(r.network, '${google_compute_network.this.id}', `firewall ${n} is on the machine's network`);
        assert.deepEqual(r.target_tags, ['${local.network_tag}'], `firewall ${n} targets the machine's tag`);
      }
      for (const r of [fw.ssh, fw.ports]) {
        assert.equal(r.direction, 'INGRESS');
        assert.deepEqual(r.source_ranges, ['0.0.0.0/0']);
        assert.equal(r.allow.length, 1);
        assert.equal(r.allow[0].protocol, 'tcp');
      }
      assert.deepEqual(fw.ssh.allow[0].ports, ['22']);
      assert.equal(fw.ports.allow[0].ports, '${local.ports}');
      // An allow block without ports opens every TCP port: no rule when var.ports is empty.
      assert.equal(fw.ports.count, '${length(local.ports) > 0 ? 1 : 0}');
      assert.equal(fw.egress.direction, 'EGRESS');
      assert.deepEqual(fw.egress.destination_ranges, ['0.0.0.0/0']);
    } else {
      const nsg = m.resource.azurerm_network_security_group.this;
      assert.ok(nsg, 'azurerm_network_security_group.this');
      const assoc = m.resource.azurerm_network_interface_security_group_association?.this;
      assert.ok(assoc, 'the NSG is associated with the NIC');
      assert.equal(assoc.network_interface_id, '${azurerm_network_interface.this.id}');
      assert.equal(assoc.network_security_group_id, '${azurerm_network_security_group.this.id}');
      assert.deepEqual(m.resource.azurerm_linux_virtual_machine.this.network_interface_ids, ['${azurerm_network_interface.this.id}']);
      assert.ok(!m.resource.azurerm_network_security_rule, 'no separate rules (they would mix with the inline ones)');
      const rules = nsg.security_rule;
      const inbound = rules.filter((r) => r.direction === 'Inbound');
      const allows = inbound.filter((r) => r.access === 'Allow');
      assert.deepEqual(allows.map((r) => [r.protocol, r.destination_port_range, r.priority]), [['Tcp', '22', 1000]],
        'the only static inbound allow is SSH');
      const dyn = nsg.dynamic?.security_rule ?? [];
      assert.equal(dyn.length, 1, 'one dynamic rule for the declared ports');
      assert.equal(dyn[0].for_each, '${local.ports}');
      const c = dyn[0].content[0];
      assert.deepEqual([c.direction, c.access, c.protocol, c.destination_port_range],
        ['Inbound', 'Allow', 'Tcp', '${security_rule.value}']);
      assert.equal(c.priority, '${1001 + security_rule.key}');
      const deny = inbound.find((r) => r.access === 'Deny' && r.source_address_prefix === 'VirtualNetwork');
      assert.ok(deny, 'an explicit Deny of VirtualNetwork inbound');
      assert.deepEqual([deny.protocol, deny.destination_port_range, deny.destination_address_prefix], ['*', '*', '*']);
      // Below every allow: SSH (1000) and up to 20 ports (1001..1020); above Azure's AllowVnetInBound (65000).
      assert.ok(deny.priority > 1020 && deny.priority <= 4096, `deny priority ${deny.priority}`);
      const out = rules.find((r) => r.direction === 'Outbound' && r.access === 'Allow');
      assert.deepEqual([out?.destination_port_range, out?.destination_address_prefix], ['*', '*'], 'egress open');
    }
  });
}

test('the three modules declare identical variables (types, descriptions, defaults, validations)', async () => {
  const [first, ...rest] = await Promise.all(MODULES.map(loadModule));
  for (const [i, m] of rest.entries()) {
    assert.deepEqual(m.variable, first.variable, `${MODULES[i + 1]} variables equal ${MODULES[0]}'s`);
  }
});

// Terraform's regex() is RE2; the patterns used here mean the same in JavaScript.
const hclString = (s) => JSON.parse(`"${s}"`);

test('image is validated: the three names or a provider reference, never another plain name', async () => {
  const m = await loadModule('aws');
  const v = m.variable.image.validation ?? [];
  assert.equal(v.length, 1, 'image has a validation');
  const cond = v[0].condition;
  assert.ok(v[0].error_message, 'validation has an error_message');
  const names = JSON.parse(cond.match(/contains\((\[[^\]]*\]), var\.image\)/)[1]);
  assert.deepEqual(names, IMAGE_NAMES);
  const regexes = [...cond.matchAll(/can\(regex\("((?:[^"\\]|\\.)*)", var\.image\)\)/g)].map((x) => new RegExp(hclString(x[1])));
  assert.equal(regexes.length, 3, 'one pattern per provider reference');
  assert.equal(cond.split('||').length, 1 + regexes.length, 'no other clause');
  const accepts = (img) => names.includes(img) || regexes.some((r) => r.test(img));
  for (const ok of [...IMAGE_NAMES, 'ami-0123456789abcdef0', 'ami-12345678',
    'ubuntu-os-cloud/ubuntu-2204-lts', 'projects/debian-cloud/global/images/family/debian-12',
    'https://www.googleapis.com/compute/v1/projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64',
    'Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest', 'Debian:debian-12:12-gen2:latest']) {
    assert.ok(accepts(ok), `accepts ${ok}`);
  }
  for (const bad of ['', 'ubuntu', 'ubuntu-20.04', 'debian-11', 'Debian-12', 'centos-7', 'windows-2022',
    'ubuntu-22.04 ', ' debian-12', 'ami-', 'ami-XYZ', 'a:b:c', 'a:b:c:d:e', 'a b/c']) {
    assert.ok(!accepts(bad), `refuses ${JSON.stringify(bad)}`);
  }
});

test('ports is validated: at most 20 whole numbers from 1 to 65535', async () => {
  const m = await loadModule('aws');
  const v = m.variable.ports.validation ?? [];
  assert.equal(v.length, 1, 'ports has a validation');
  assert.equal(v[0].condition,
    '${length(var.ports) <= 20 && alltrue([for p in var.ports : try(p >= 1 && p <= 65535 && floor(p) == p, false)])}');
  assert.ok(v[0].error_message, 'validation has an error_message');
  assert.equal(m.variable.ports.nullable, false);
});

// ---- the shared cloud-init template ----

const template = () => readFile(TEMPLATE, 'utf8');

// The lines of one write_files entry's `content: |` block, dedented.
function writeFileContent(text, filePath) {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === `- path: ${filePath}`);
  assert.ok(start >= 0, `write_files has ${filePath}`);
  const contentAt = lines.findIndex((l, i) => i > start && /^\s+content: \|$/.test(l));
  assert.ok(contentAt > start, `${filePath} has a content block`);
  const body = [];
  for (const l of lines.slice(contentAt + 1)) {
    if (l.trim() !== '' && !l.startsWith('      ')) break;
    body.push(l.slice(6));
  }
  return body.join('\n').replace(/\n+$/, '\n');
}

// Terraform template interpolations: "${" not preceded by another "$".
function interpolations(text) {
  return [...text.matchAll(/(?<!\$)\$\{([^}]*)\}/g)].map((x) => x[1]);
}

test('cloud-init template exists and is a #cloud-config for the user hangar', async () => {
  assert.ok(existsSync(TEMPLATE), TEMPLATE);
  const text = await template();
  assert.ok(text.startsWith('#cloud-config\n'), 'starts with #cloud-config');
  assert.match(text, /- name: hangar\n/);
  assert.match(text, /^ {4}ssh_authorized_keys: \$\{jsonencode\(ssh_authorized_keys\)\}$/m, 'the keys as one JSON (so YAML) list');
});

test('cloud-init template only interpolates its three inputs (shell ${...} is escaped as $${...})', async () => {
  const text = await template();
  const found = interpolations(text);
  assert.ok(found.length >= 3, 'has interpolations');
  const known = new Set([...TEMPLATE_VARS, 'jsonencode', 'trimspace', 'trimsuffix']);
  for (const expr of found) {
    const idents = expr.replace(/"[^"]*"/g, '').match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
    for (const id of idents) assert.ok(known.has(id), `unexpected identifier ${id} in \${${expr}}`);
  }
  for (const v of TEMPLATE_VARS) assert.ok(found.some((e) => e.includes(v)), `uses ${v}`);
  assert.doesNotMatch(text, /%\{/, 'no template directives');
  assert.deepEqual(interpolations(writeFileContent(text, '/usr/local/bin/hangar-agent')), [],
    'the agent script has no Terraform interpolation');
  assert.doesNotMatch(writeFileContent(text, '/usr/local/bin/hangar-agent'), /%\{/, 'nor a template directive');
});

test('cloud-init writes the agent env file (0600), the agent, and a systemd service + timer, and enables the timer', async () => {
  const text = await template();
  const env = writeFileContent(text, '/etc/hangar/agent.env');
  assert.match(env, /^HANGAR_AGENT_TOKEN=\$\{agent_token\}$/m);
  assert.match(env, /^HANGAR_FUNCTIONS_URL=\$\{trimsuffix\(functions_url, "\/"\)\}$/m);
  const envEntry = text.slice(text.indexOf('- path: /etc/hangar/agent.env'), text.indexOf('content:', text.indexOf('- path: /etc/hangar/agent.env')));
  assert.match(envEntry, /permissions: "0600"/);

  const agent = writeFileContent(text, '/usr/local/bin/hangar-agent');
  assert.ok(agent.startsWith('#!/bin/sh\n'), 'POSIX shell script');
  assert.match(text, /- path: \/usr\/local\/bin\/hangar-agent\n\s+owner: root:root\n\s+permissions: "0755"/);
  for (const source of ['/proc/stat', '/proc/meminfo', 'df -P /', '/proc/net/dev']) assert.ok(agent.includes(source), source);
  assert.match(agent, /sleep 1/);
  assert.match(agent, /record-metrics/);
  assert.match(agent, /Authorization: Bearer/);
  assert.match(agent, /content-type: application\/json/);
  for (const k of ['cpuUsage', 'memoryUsage', 'diskUsage', 'networkIn', 'networkOut']) assert.match(agent, new RegExp(`"${k}":`));

  const service = writeFileContent(text, '/etc/systemd/system/hangar-agent.service');
  assert.match(service, /^\[Service\]$/m);
  assert.match(service, /^Type=oneshot$/m);
  assert.match(service, /^ExecStart=\/usr\/local\/bin\/hangar-agent$/m);
  const timer = writeFileContent(text, '/etc/systemd/system/hangar-agent.timer');
  assert.match(timer, /^\[Timer\]$/m);
  assert.match(timer, /^OnBootSec=30s$/m);
  assert.match(timer, /^OnUnitActiveSec=60s$/m);
  assert.match(timer, /^WantedBy=timers\.target$/m);
  assert.match(text, /^runcmd:\n(?:\s+- .*\n)*\s+- \[systemctl, enable, --now, hangar-agent\.timer\]/m);
});

test('the agent script is valid POSIX sh', { skip: !existsSync('/bin/sh') && 'no /bin/sh' }, async () => {
  const script = writeFileContent(await template(), '/usr/local/bin/hangar-agent').replaceAll('$${', '${');
  const r = spawnSync('/bin/sh', ['-n'], { input: script, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

const canRunAgent = process.platform === 'linux' && existsSync('/proc/stat') &&
  spawnSync('curl', ['--version']).status === 0 && spawnSync('awk', ['BEGIN{}']).status === 0;

test('the agent posts one sample to record-metrics with the bearer token', { skip: !canRunAgent && 'needs Linux /proc, curl and awk' }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hangar-agent-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const received = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end('{"data":{"accepted":1}}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address().port}/`;

  // Render the bits of the template the agent needs, as templatefile() would.
  const text = await template();
  const envFile = path.join(dir, 'agent.env');
  await writeFile(envFile, writeFileContent(text, '/etc/hangar/agent.env')
    .replace('${agent_token}', 'tok_test.ABC-123')
    .replace('${trimsuffix(functions_url, "/")}', url.replace(/\/$/, '')));
  const script = writeFileContent(text, '/usr/local/bin/hangar-agent').replaceAll('$${', '${')
    .replace(/^ENV_FILE=.*$/m, `ENV_FILE=${envFile}`)
    .replace(/^STATE_DIR=.*$/m, `STATE_DIR=${path.join(dir, 'run')}`);
  const scriptFile = path.join(dir, 'hangar-agent');
  await writeFile(scriptFile, script, { mode: 0o755 });

  const run = () => new Promise((resolve) => {
    const p = spawn('/bin/sh', [scriptFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (c) => { err += c; });
    p.on('close', (code) => resolve({ code, err }));
  });
  for (let i = 0; i < 2; i++) {
    const r = await run();
    assert.equal(r.code, 0, r.err);
  }

  assert.equal(received.length, 2);
  for (const req of received) {
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/functions/v1/record-metrics');
    assert.equal(req.headers.authorization, 'Bearer tok_test.ABC-123');
    assert.equal(req.headers['content-type'], 'application/json');
    const sample = JSON.parse(req.body);
    assert.deepEqual(Object.keys(sample).sort(), ['cpuUsage', 'diskUsage', 'memoryUsage', 'networkIn', 'networkOut']);
    for (const k of ['cpuUsage', 'memoryUsage', 'diskUsage']) {
      assert.equal(typeof sample[k], 'number', k);
      assert.ok(sample[k] >= 0 && sample[k] <= 100, `${k}=${sample[k]} in 0..100`);
    }
    for (const k of ['networkIn', 'networkOut']) {
      assert.ok(Number.isInteger(sample[k]) && sample[k] >= 0, `${k}=${sample[k]} is a byte count`);
    }
  }
});

// ---- the SSH keys, rendered by Terraform itself (API.md §7) ----

// Key lines made with ssh-keygen (a comment with quotes and a #, which YAML must keep),
// the runner's own, and the start of an RSA one.
const KEY_ED = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXVaRhGv3TRk5safvYVwCoG1++iGTl/TukFbUNPNyRD alice@laptop';
const KEY_ECDSA = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJxCdYSXE1I9UeEUYQqizKFq5zkMpx/VCTv9xxDR1ImGN7vDbxga+qTPa+M1TQ6xMsPKeFQio6LyCtFbkL+wGWc= bob "quoted" #1';
const KEY_RUNNER = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILnnI//SmrrXeOWlmeEVLoSpWFpuzIXwS9+74gz1/RRh runner@hangar';
const KEY_RSA_PREFIX = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB';

const terraformBin = process.env.TERRAFORM_BIN
  || ['terraform', 'tofu'].find((b) => spawnSync(b, ['version'], { encoding: 'utf8' }).status === 0);

/** `terraform <args>` in `dir`; { status, stdout, stderr }. */
function tf(dir, ...args) {
  return spawnSync(terraformBin, [`-chdir=${dir}`, ...args], {
    encoding: 'utf8', env: { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1', TF_INPUT: '0' },
  });
}

/**
 * A root module holding exactly what a module uses to render its cloud-init: its key
 * variables (type, default and validation as parsed from variables.tf), its
 * `authorized_keys` (and, on Azure, `rsa_keys`) local, and its `cloud_init` local pointed
 * at the real template. No provider, so `init` needs no network.
 */
async function renderRoot(mod) {
  const m = await loadModule(mod);
  const bare = (v) => Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'description')
    .map(([k, x]) => [k, k === 'type' ? typeOf({ type: x }) : x]));
  const dir = await mkdtemp(path.join(os.tmpdir(), `hangar-keys-${mod}-`));
  const locals = { authorized_keys: m.locals.authorized_keys, cloud_init: m.locals.cloud_init.replace('${path.module}/../agent/cloud-init.yaml.tftpl', TEMPLATE) };
  const output = { cloud_init: { value: '${local.cloud_init}', sensitive: true } };
  if (m.locals.rsa_keys) {
    locals.rsa_keys = m.locals.rsa_keys;
    output.rsa_keys = { value: '${local.rsa_keys}' };
  }
  const root = {
    variable: Object.fromEntries(['ssh_authorized_keys', 'runner_ssh_public_key', 'agent_token', 'functions_url'].map((v) => [v, bare(m.variable[v])])),
    locals,
    output,
  };
  await writeFile(path.join(dir, 'main.tf.json'), JSON.stringify(root, null, 2));
  const init = tf(dir, 'init', '-input=false', '-no-color');
  assert.equal(init.status, 0, `${mod}: terraform init: ${init.stderr}`);
  return dir;
}

/** Applies the root with `vars`; the rendered cloud-init and outputs, or the failure. */
async function render(dir, vars) {
  await writeFile(path.join(dir, 'terraform.tfvars.json'), JSON.stringify(vars));
  const apply = tf(dir, 'apply', '-auto-approve', '-input=false', '-no-color');
  if (apply.status !== 0) return { error: apply.stderr + apply.stdout };
  const out = JSON.parse(tf(dir, 'output', '-json').stdout);
  return { cloudInit: out.cloud_init.value, rsaKeys: out.rsa_keys?.value };
}

const keysLine = (cloudInit) => {
  const line = cloudInit.split('\n').find((l) => l.startsWith('    ssh_authorized_keys: '));
  assert.ok(line, `an ssh_authorized_keys line for the user hangar in:\n${cloudInit.slice(0, 600)}`);
  return JSON.parse(line.slice('    ssh_authorized_keys: '.length));
};

for (const mod of MODULES) {
  test(`${mod}: Terraform renders the machine's keys, then the runner's, each once, trimmed`, { skip: !terraformBin && 'no terraform binary' }, async (t) => {
    const dir = await renderRoot(mod);
    t.after(() => rm(dir, { recursive: true, force: true }));
    const base = { agent_token: 'tok', functions_url: 'https://fn.example' };

    const r = await render(dir, { ...base, ssh_authorized_keys: [`  ${KEY_ED} `, KEY_ECDSA, KEY_ED], runner_ssh_public_key: `${KEY_RUNNER}\n` });
    assert.ok(!r.error, r.error);
    assert.ok(r.cloudInit.startsWith('#cloud-config\n'));
    assert.deepEqual(keysLine(r.cloudInit), [KEY_ED, KEY_ECDSA, KEY_RUNNER]);
    assert.match(r.cloudInit, /^- name: hangar$|^ {2}- name: hangar$/m);

    // None at all: an empty list (cloud-init installs nothing), not a broken document.
    const none = await render(dir, { ...base });
    assert.deepEqual(keysLine(none.cloudInit), []);
    // Only the runner's.
    assert.deepEqual(keysLine((await render(dir, { ...base, runner_ssh_public_key: KEY_RUNNER })).cloudInit), [KEY_RUNNER]);

    if (mod === 'azure') {
      // Azure's admin key is the first RSA key there is (else a generated placeholder).
      assert.deepEqual(r.rsaKeys, []);
      const rsa = `${KEY_RSA_PREFIX}AAABAQC7 carol`;
      const withRsa = await render(dir, { ...base, ssh_authorized_keys: [KEY_ED, rsa], runner_ssh_public_key: KEY_RUNNER });
      assert.deepEqual(withRsa.rsaKeys, [rsa]);
    }

    // A key line that is not one (a second line smuggled in, an option prefix) is refused.
    for (const bad of [`${KEY_ED}\nssh-ed25519 AAAAC3Nza evil`, `command="sh" ${KEY_ED}`, 'ssh-dss AAAAB3NzaC1kc3M=']) {
      const refused = await render(dir, { ...base, ssh_authorized_keys: [bad] });
      assert.match(refused.error ?? '', /ssh_authorized_keys must list/, `${mod} refuses ${JSON.stringify(bad)}`);
    }
  });
}

test('azure: the admin key is the first RSA key of the authorized keys, else a generated one', async () => {
  const m = await loadModule('azure');
  assert.equal(m.locals.rsa_keys, '${[for k in local.authorized_keys : k if startswith(k, "ssh-rsa ")]}');
  assert.equal(m.locals.admin_key, '${local.user_key_is_rsa ? local.rsa_keys[0] : tls_private_key.placeholder[0].public_key_openssh}');
  assert.equal(m.resource.tls_private_key.placeholder.count, '${local.user_key_is_rsa ? 0 : 1}');
  assert.equal(m.resource.azurerm_linux_virtual_machine.this.admin_ssh_key[0].public_key, '${local.admin_key}');
});
