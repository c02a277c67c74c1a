# One Hangar machine on AWS EC2: its own security group (SSH and the declared
# ports in, everything out; nothing else, not even from the VPC) in the region's
# default VPC, an Ubuntu or Debian instance bootstrapped by the shared
# cloud-init, an Elastic IP (so the address survives stop/start) and the power
# state.
# Credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_SESSION_TOKEN or AWS_PROFILE); see terraform/README.md.

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

locals {
  resource_name = "hangar-${var.machine_id}"

  tags = {
    "hangar-machine-id" = var.machine_id
    "Name"              = var.name
  }

  # Hangar tiers (API.md §3), keyed "<cpu>-<memory_mb>".
  instance_types = {
    "0.5-1024" = "t3.micro"
    "1-2048"   = "t3.small"
    "2-4096"   = "t3.medium"
    "4-8192"   = "t3.large"
  }
  size_key      = "${var.cpu}-${var.memory_mb}"
  instance_type = lookup(local.instance_types, local.size_key, null)

  # The image names of the runner's allowlist (ubuntu-22.04, ubuntu-24.04,
  # debian-12): the newest amd64 AMI of the distribution's own account. An AMI
  # id ("ami-...") is used as given; anything else fails the precondition on
  # aws_instance.this (and most already the variable's validation).
  images = {
    "ubuntu-22.04" = { owner = "099720109477", name = "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*" } # Canonical
    "ubuntu-24.04" = { owner = "099720109477", name = "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-amd64-server-*" } # Canonical
    "debian-12"    = { owner = "136693071363", name = "debian-12-amd64-*" }                                          # Debian
  }
  use_ami_id = startswith(var.image, "ami-")
  image      = local.use_ami_id ? null : lookup(local.images, var.image, null)
  ami        = local.use_ami_id ? var.image : try(data.aws_ami.this[0].id, null)

  # Declared ports (var.ports) besides SSH, without duplicates, as strings (the
  # keys of one ingress rule each).
  ports = toset([for p in var.ports : tostring(floor(p)) if p != 22])

  # The user hangar's keys: the machine's, then the runner's own, each once.
  authorized_keys = distinct(compact([for k in concat(var.ssh_authorized_keys, [var.runner_ssh_public_key]) : trimspace(k)]))

  cloud_init = templatefile("${path.module}/../agent/cloud-init.yaml.tftpl", {
    ssh_authorized_keys = local.authorized_keys
    agent_token         = var.agent_token
    functions_url       = var.functions_url
  })
}

data "aws_ami" "this" {
  count       = local.image == null ? 0 : 1
  most_recent = true
  owners      = [local.image.owner]

  filter {
    name   = "name"
    values = [local.image.name]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

data "aws_vpc" "default" {
  default = true
}

# The machine's own security group, and the only one on its interface (not the
# VPC's default group). Ingress: SSH and the declared ports from anywhere, as
# for the Internet; no rule names the default group, another group or the VPC
# CIDR, so other machines in the VPC get nothing more than the Internet does.
resource "aws_security_group" "this" {
  name                   = local.resource_name
  description            = "Hangar machine ${var.machine_id}: SSH and declared ports in, all egress"
  vpc_id                 = data.aws_vpc.default.id
  revoke_rules_on_delete = true
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  security_group_id = aws_security_group.this.id
  description       = "SSH"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "ports" {
  for_each = local.ports

  security_group_id = aws_security_group.this.id
  description       = "Declared port ${each.value}"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "all_ipv4" {
  security_group_id = aws_security_group.this.id
  description       = "All egress"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "all_ipv6" {
  security_group_id = aws_security_group.this.id
  description       = "All egress"
  ip_protocol       = "-1"
  cidr_ipv6         = "::/0"
}

resource "aws_instance" "this" {
  ami                    = local.ami
  instance_type          = local.instance_type
  vpc_security_group_ids = [aws_security_group.this.id]
  user_data              = local.cloud_init

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.disk_gb
    encrypted             = true
    delete_on_termination = true
  }

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  lifecycle {
    precondition {
      condition     = local.ami != null
      error_message = "image \"${var.image}\" is not an AWS image: use ubuntu-22.04, ubuntu-24.04, debian-12 or an AMI id (ami-...)."
    }

    precondition {
      condition     = local.instance_type != null
      error_message = "No AWS instance type for cpu=${var.cpu} memory_mb=${var.memory_mb}; supported \"<cpu>-<memory_mb>\" sizes: ${join(", ", keys(local.instance_types))}."
    }

    # cloud-init runs once, on first boot, and the disk is sized at creation:
    # later applies (stop/start/resize, which may pass another agent_token or a
    # newer AMI) must not replace or rewrite the machine.
    ignore_changes = [ami, user_data, root_block_device[0].volume_size]
  }
}

# A fixed public address: the instance's own public IP would change on every
# stop/start.
resource "aws_eip" "this" {
  domain   = "vpc"
  instance = aws_instance.this.id
}

resource "aws_ec2_instance_state" "this" {
  instance_id = aws_instance.this.id
  state       = var.power_state == "running" ? "running" : "stopped"
}
