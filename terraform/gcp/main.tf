# One Hangar machine on Google Compute Engine: firewall rules (SSH in, everything
# out) on the project's "default" network, an Ubuntu instance with an ephemeral
# external IP bootstrapped by the shared cloud-init, and the power state through
# desired_status. The project and credentials come from the environment
# (GOOGLE_PROJECT, GOOGLE_APPLICATION_CREDENTIALS or GOOGLE_CREDENTIALS); see
# terraform/README.md.

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

  # "project/image-or-family" (or a full image URL) is used as given; anything
  # else means Ubuntu 22.04 LTS.
  image = strcontains(var.image, "/") ? var.image : "ubuntu-os-cloud/ubuntu-2204-lts"

  cloud_init = templatefile("${path.module}/../agent/cloud-init.yaml.tftpl", {
    ssh_public_key = var.ssh_public_key
    agent_token    = var.agent_token
    functions_url  = var.functions_url
  })
}

data "google_compute_zones" "available" {
  count  = local.region_is_zone ? 0 : 1
  region = local.region
  status = "UP"
}

resource "google_compute_firewall" "ssh" {
  name        = "${local.resource_name}-ssh"
  network     = "default"
  description = "Hangar machine ${var.machine_id}: SSH in"
  direction   = "INGRESS"

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  source_ranges = ["0.0.0.0/0"]
  target_tags   = [local.network_tag]
}

# VPC networks already carry an implied allow-all egress rule; this one states
# it for this machine so a stricter project default does not cut the agent off.
resource "google_compute_firewall" "egress" {
  name        = "${local.resource_name}-egress"
  network     = "default"
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
    network = "default"

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
