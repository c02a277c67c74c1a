# The Hangar module contract (see terraform/README.md): the variables of every
# module. terraform/aws, terraform/gcp and terraform/azure each link this one file as
# their variables.tf (a symlink), so the three cannot drift apart.

variable "machine_id" {
  type        = string
  description = "Hangar machine id (a UUID). Names every cloud resource and is set as the hangar-machine-id tag/label."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,47}$", var.machine_id))
    error_message = "machine_id must be 1 to 48 lowercase letters, digits or '-' (a UUID), starting with a letter or digit."
  }
}

variable "name" {
  type        = string
  description = "Display name of the machine, set as the Name tag (a sanitised lowercase label on GCP)."
  nullable    = false
}

variable "cpu" {
  type        = number
  description = "vCPUs of the Hangar tier (0.5, 1, 2 or 4). With memory_mb it selects the instance type."
  nullable    = false
}

variable "memory_mb" {
  type        = number
  description = "Memory of the Hangar tier in MiB (1024, 2048, 4096 or 8192). With cpu it selects the instance type."
  nullable    = false
}

variable "disk_gb" {
  type        = number
  description = "Size of the root disk in GB, used when the machine is created (later changes are ignored)."
  nullable    = false

  validation {
    condition     = var.disk_gb >= 10 && var.disk_gb <= 1024 && floor(var.disk_gb) == var.disk_gb
    error_message = "disk_gb must be a whole number from 10 to 1024."
  }
}

variable "region" {
  type        = string
  description = "Cloud region (aws: us-east-1, gcp: us-central1 or a zone such as us-central1-a, azure: eastus)."
  nullable    = false
}

variable "image" {
  type        = string
  description = "OS image: ubuntu-22.04, ubuntu-24.04 or debian-12 (mapped to each cloud's image), or a provider-specific reference (aws: ami-..., gcp: project/image-or-family, azure: publisher:offer:sku:version). Any other name is refused."
  nullable    = false

  # The names every module maps, or the shape of a reference of one of the three
  # clouds. Each module also refuses, with a precondition, a reference of
  # another cloud (an AMI id on GCP, say).
  validation {
    condition = (
      contains(["ubuntu-22.04", "ubuntu-24.04", "debian-12"], var.image)
      || can(regex("^ami-[0-9a-f]+$", var.image))
      || can(regex("^[^\\s:]*/[^\\s]+$|^https://[^\\s]+/[^\\s]+$", var.image))
      || can(regex("^[^\\s:/]+:[^\\s:/]+:[^\\s:/]+:[^\\s:/]+$", var.image))
    )
    error_message = "image must be ubuntu-22.04, ubuntu-24.04, debian-12 or a provider-specific reference (ami-..., project/image-or-family, publisher:offer:sku:version)."
  }
}

variable "ports" {
  type        = list(number)
  description = "TCP ports opened to the Internet besides SSH (22), from machine.configuration.ports: at most 20, each a whole number from 1 to 65535. Nothing else is reachable from outside or from other machines."
  default     = []
  nullable    = false

  validation {
    condition     = length(var.ports) <= 20 && alltrue([for p in var.ports : try(p >= 1 && p <= 65535 && floor(p) == p, false)])
    error_message = "ports must list at most 20 whole numbers from 1 to 65535."
  }
}

variable "ssh_authorized_keys" {
  type        = list(string)
  description = "OpenSSH public key lines installed for the user hangar: machine.sshAuthorizedKeys (the keys chosen with sshKeyIds, then sshPublicKey). Installed by cloud-init on first boot; the runner's authorize_keys job changes them later."
  default     = []
  nullable    = false

  validation {
    condition     = length(var.ssh_authorized_keys) <= 11 && alltrue([for k in var.ssh_authorized_keys : can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com) [A-Za-z0-9+/]+={0,2}( [^\\x00-\\x1f]*)?$", trimspace(k)))])
    error_message = "ssh_authorized_keys must list at most 11 OpenSSH public key lines (ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa or a security key), one line each."
  }
}

variable "runner_ssh_public_key" {
  type        = string
  description = "The runner's own OpenSSH public key (RUNNER_SSH_PUBLIC_KEY), installed for the user hangar too, so that deploy, command and authorize_keys can log in; empty for none."
  default     = ""
  nullable    = false
}

variable "agent_token" {
  type        = string
  description = "Bearer token the metrics agent sends to record-metrics. Read only when the machine is created; later applies may pass any value."
  sensitive   = true
  nullable    = false
}

variable "functions_url" {
  type        = string
  description = "Base URL of the Hangar functions (FUNCTIONS_URL); the agent posts to <functions_url>/functions/v1/record-metrics."
  nullable    = false

  validation {
    condition     = can(regex("^https?://[^ ]+$", var.functions_url))
    error_message = "functions_url must be an http(s) URL."
  }
}

variable "power_state" {
  type        = string
  description = "Desired power state: running or stopped. The runner's stop/start switch."
  default     = "running"
  nullable    = false

  validation {
    condition     = contains(["running", "stopped"], var.power_state)
    error_message = "power_state must be \"running\" or \"stopped\"."
  }
}
