# One Hangar machine on Google Compute Engine: its own VPC network and subnet
# (never the project's "default" network, whose default-allow-internal rule lets
# every VM of the project reach every other), firewall rules on it (SSH and the
# declared ports in, everything out), an Ubuntu or Debian instance with an
# ephemeral external IP bootstrapped by the shared cloud-init, and the power
# state through desired_status. The project and credentials come from the
# environment (GOOGLE_PROJECT, GOOGLE_APPLICATION_CREDENTIALS or
# GOOGLE_CREDENTIALS); see terraform/README.md.

locals {
  # var.region is a region ("us-central1"); a zone ("us-central1-a") is also
  # accepted and used as is.
  region_is_zone = can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", var.region))
  region         = local.region_is_zone ? regex("^(.*)-[a-z]$", var.region)[0] : var.region
  zone           = local.region_is_zone ? var.region : data.google_compute_zones.available[0].names[0]
}

provider "google" {
  region = local.region
}

locals {
  resource_name = "hangar-${var.machine_id}"
  network_tag   = "hangar-${var.machine_id}"

  # GCP label keys and values allow only lowercase letters, digits, "_" and "-"
  # (63 characters): "Name" becomes "name" with the display name sanitised. The
  # exact display name is kept in the instance description and metadata.
  labels = {
    "hangar-machine-id" = var.machine_id
    "name"              = substr(replace(lower(var.name), "/[^a-z0-9_-]/", "_"), 0, 63)
  }

  # Hangar tiers (API.md §3), keyed "<cpu>-<memory_mb>".
  instance_types = {
    "0.5-1024" = "e2-micro"
    "1-2048"   = "e2-small"
    "2-4096"   = "e2-medium"
    "4-8192"   = "e2-standard-2"
  }
  size_key      = "${var.cpu}-${var.memory_mb}"
  instance_type = lookup(local.instance_types, local.size_key, null)

  # The image names of the runner's allowlist. "project/image-or-family" (or a
  # full image URL) is used as given; anything else fails the precondition on
  # google_compute_instance.this (and most already the variable's validation).
  images = {
    "ubuntu-22.04" = "ubuntu-os-cloud/ubuntu-2204-lts"
    "ubuntu-24.04" = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"
    "debian-12"    = "debian-cloud/debian-12"
  }
  image = strcontains(var.image, "/") ? var.image : lookup(local.images, var.image, null)

  # Declared ports (var.ports) besides SSH, without duplicates, as the strings
  # a firewall rule lists.
  ports = sort(distinct([for p in var.ports : tostring(floor(p)) if p != 22]))

  # The user hangar's keys: the machine's, then the runner's own, each once.
  authorized_keys = distinct(compact([for k in concat(var.ssh_authorized_keys, [var.runner_ssh_public_key]) : trimspace(k)]))

  cloud_init = templatefile("${path.module}/../agent/cloud-init.yaml.tftpl", {
    ssh_authorized_keys = local.authorized_keys
    agent_token         = var.agent_token
    functions_url       = var.functions_url
  })
}

data "google_compute_zones" "available" {
  count  = local.region_is_zone ? 0 : 1
  region = local.region
  status = "UP"
}

# The machine's own network: no other VM is on it, and it has none of the
# default network's rules. Only the rules below exist, so inbound traffic is
# the implied deny-all except SSH and the declared ports (from anywhere, other
# Hangar machines included, exactly as for the Internet).
resource "google_compute_network" "this" {
  name                    = local.resource_name
  description             = "Hangar machine ${var.machine_id}"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
}

resource "google_compute_subnetwork" "this" {
  name          = local.resource_name
  description   = "Hangar machine ${var.machine_id}"
  region        = local.region
  network       = google_compute_network.this.id
  ip_cidr_range = "10.0.0.0/24"
}

resource "google_compute_firewall" "ssh" {
  name        = "${local.resource_name}-ssh"
  network     = google_compute_network.this.id
  description = "Hangar machine ${var.machine_id}: SSH in"
  direction   = "INGRESS"

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  source_ranges = ["0.0.0.0/0"]
  target_tags   = [local.network_tag]
}

# One rule for every declared port, and none without any: an allow block with
# an empty port list would open every TCP port.
resource "google_compute_firewall" "ports" {
  count       = length(local.ports) > 0 ? 1 : 0
  name        = "${local.resource_name}-ports"
  network     = google_compute_network.this.id
  description = "Hangar machine ${var.machine_id}: declared ports in"
  direction   = "INGRESS"

  allow {
    protocol = "tcp"
    ports    = local.ports
  }

  source_ranges = ["0.0.0.0/0"]
  target_tags   = [local.network_tag]
}

# VPC networks already carry an implied allow-all egress rule; this one states
# it for this machine so a stricter policy does not cut the agent off.
resource "google_compute_firewall" "egress" {
  name        = "${local.resource_name}-egress"
  network     = google_compute_network.this.id
  description = "Hangar machine ${var.machine_id}: all egress"
  direction   = "EGRESS"

  allow {
    protocol = "all"
  }

  destination_ranges = ["0.0.0.0/0"]
  target_tags        = [local.network_tag]
}

resource "google_compute_instance" "this" {
  name         = local.resource_name
  description  = var.name
  machine_type = local.instance_type
  zone         = local.zone
  tags         = [local.network_tag]
  labels       = local.labels

  # The runner's stop/start switch. Changing machine_type needs a stopped
  # instance; allow_stopping_for_update lets the provider do that.
  desired_status            = upper(var.power_state) == "RUNNING" ? "RUNNING" : "TERMINATED"
  allow_stopping_for_update = true

  boot_disk {
    auto_delete = true

    initialize_params {
      image = local.image
      size  = var.disk_gb
      type  = "pd-balanced"
    }
  }

  network_interface {
    subnetwork = google_compute_subnetwork.this.id

    # Ephemeral external IP: it changes on stop/start, and a stopped
    # (TERMINATED) instance has none.
    access_config {}
  }

  metadata = {
    "user-data"         = local.cloud_init
    "hangar-machine-id" = var.machine_id
    "hangar-name"       = var.name
  }

  lifecycle {
    precondition {
      condition     = local.image != null
      error_message = "image \"${var.image}\" is not a GCP image: use ubuntu-22.04, ubuntu-24.04, debian-12 or project/image-or-family."
    }

    precondition {
      condition     = local.instance_type != null
      error_message = "No GCP machine type for cpu=${var.cpu} memory_mb=${var.memory_mb}; supported \"<cpu>-<memory_mb>\" sizes: ${join(", ", keys(local.instance_types))}."
    }

    # cloud-init runs once, on first boot, and the boot disk is made at
    # creation (changing either would replace the instance): later applies
    # (stop/start/resize, which may pass another agent_token) leave them alone.
    ignore_changes = [
      metadata["user-data"],
      boot_disk[0].initialize_params[0].image,
      boot_disk[0].initialize_params[0].size,
    ]
  }
}
