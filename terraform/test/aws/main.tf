# A machine made of Terraform's built-ins only (see ../README.md): nothing leaves this host.

resource "terraform_data" "instance" {
  input = {
    machine_id = var.machine_id
    name       = var.name
    size       = "${var.cpu}cpu-${var.memory_mb}mb-${var.disk_gb}gb"
    region     = var.region
    image      = var.image
  }

  # What a cloud API call costs: an apply in flight for a test to interrupt.
  provisioner "local-exec" {
    command = "sleep \"$${HANGAR_TEST_APPLY_SECONDS:-1}\""
  }

  lifecycle {
    # As the real modules: later applies may pass another agent token or keys.
    ignore_changes = [input]
  }
}

resource "terraform_data" "power" {
  input = var.power_state
}
