# One Hangar machine on Azure: its own resource group holding a virtual network
# and subnet, the machine's own network security group on its NIC (SSH and the
# declared ports in, VirtualNetwork inbound denied, everything out), a static
# public IP, a NIC and an Ubuntu or Debian VM bootstrapped by the shared
# cloud-init (custom_data), plus the power state through azapi start/deallocate
# actions. Credentials and the subscription come from the environment
# (ARM_SUBSCRIPTION_ID, ARM_TENANT_ID, ARM_CLIENT_ID, ARM_CLIENT_SECRET, read by
# both azurerm and azapi); see terraform/README.md.

provider "azurerm" {
  features {}
}

provider "azapi" {}

locals {
  resource_name = "hangar-${var.machine_id}"

  tags = {
    "hangar-machine-id" = var.machine_id
    "Name"              = var.name
  }

  # Hangar tiers (API.md §3), keyed "<cpu>-<memory_mb>".
  instance_types = {
    "0.5-1024" = "Standard_B1s"
    "1-2048"   = "Standard_B1ms"
    "2-4096"   = "Standard_B2s"
    "4-8192"   = "Standard_B2ms"
  }
  size_key      = "${var.cpu}-${var.memory_mb}"
  instance_type = lookup(local.instance_types, local.size_key, null)

  # The image names of the runner's allowlist (gen2 images). A full URN
  # "publisher:offer:sku:version" is used as given; anything else fails the
  # precondition on azurerm_linux_virtual_machine.this (and most already the
  # variable's validation).
  images = {
    "ubuntu-22.04" = { publisher = "Canonical", offer = "0001-com-ubuntu-server-jammy", sku = "22_04-lts-gen2", version = "latest" }
    "ubuntu-24.04" = { publisher = "Canonical", offer = "ubuntu-24_04-lts", sku = "server", version = "latest" }
    "debian-12"    = { publisher = "Debian", offer = "debian-12", sku = "12-gen2", version = "latest" }
  }
  image_urn = split(":", var.image)
  image = length(local.image_urn) == 4 ? {
    publisher = local.image_urn[0]
    offer     = local.image_urn[1]
    sku       = local.image_urn[2]
    version   = local.image_urn[3]
  } : lookup(local.images, var.image, null)

  # Declared ports (var.ports) besides SSH, without duplicates, as strings: one
  # NSG rule each, at priorities 1001.. (SSH is 1000).
  ports = sort(distinct([for p in var.ports : tostring(floor(p)) if p != 22]))

  # Azure images cannot boot from a disk smaller than the image (30 GB for
  # Ubuntu and Debian), so smaller tiers get 30 GB here.
  disk_gb = max(var.disk_gb, 30)

  # Azure requires an admin SSH key and accepts only RSA keys at deployment
  # time. The first RSA key of the machine's (or the runner's) is used directly;
  # otherwise (no key, or only ed25519 / ECDSA) a generated RSA key fills the
  # slot and the keys reach the machine through cloud-init alone. The generated
  # private key is never output: it only satisfies the API (it does sit in the
  # Terraform state, which holds secrets anyway).
  rsa_keys        = [for k in local.authorized_keys : k if startswith(k, "ssh-rsa ")]
  user_key_is_rsa = length(local.rsa_keys) > 0
  admin_key       = local.user_key_is_rsa ? local.rsa_keys[0] : tls_private_key.placeholder[0].public_key_openssh

  # The user hangar's keys: the machine's, then the runner's own, each once.
  authorized_keys = distinct(compact([for k in concat(var.ssh_authorized_keys, [var.runner_ssh_public_key]) : trimspace(k)]))

  cloud_init = templatefile("${path.module}/../agent/cloud-init.yaml.tftpl", {
    ssh_authorized_keys = local.authorized_keys
    agent_token         = var.agent_token
    functions_url       = var.functions_url
  })
}

resource "tls_private_key" "placeholder" {
  count     = local.user_key_is_rsa ? 0 : 1
  algorithm = "RSA"
  rsa_bits  = 4096
}

resource "azurerm_resource_group" "this" {
  name     = local.resource_name
  location = var.region
  tags     = local.tags
}

resource "azurerm_virtual_network" "this" {
  name                = local.resource_name
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  address_space       = ["10.0.0.0/16"]
  tags                = local.tags
}

resource "azurerm_subnet" "this" {
  name                 = "default"
  resource_group_name  = azurerm_resource_group.this.name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = ["10.0.1.0/24"]
}

# The machine's own NSG, associated with its NIC below. Allowed in: SSH and the
# declared ports (from anywhere, as for the Internet). Azure's default rules
# (65000+) would also let anything in the virtual network (and peered or
# connected networks) in: deny-vnet-in, below the allows, stops that, so no
# other machine reaches this one except as the Internet does.
resource "azurerm_network_security_group" "this" {
  name                = local.resource_name
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags

  security_rule {
    name                       = "ssh-in"
    priority                   = 1000
    direction                  = "Inbound"
    access                     = "Allow"
    protocol                   = "Tcp"
    source_port_range          = "*"
    destination_port_range     = "22"
    source_address_prefix      = "*"
    destination_address_prefix = "*"
  }

  dynamic "security_rule" {
    for_each = local.ports

    content {
      name                       = "port-${security_rule.value}-in"
      priority                   = 1001 + security_rule.key
      direction                  = "Inbound"
      access                     = "Allow"
      protocol                   = "Tcp"
      source_port_range          = "*"
      destination_port_range     = security_rule.value
      source_address_prefix      = "*"
      destination_address_prefix = "*"
    }
  }

  security_rule {
    name                       = "deny-vnet-in"
    priority                   = 4000
    direction                  = "Inbound"
    access                     = "Deny"
    protocol                   = "*"
    source_port_range          = "*"
    destination_port_range     = "*"
    source_address_prefix      = "VirtualNetwork"
    destination_address_prefix = "*"
  }

  # Azure's default rules already allow outbound Internet traffic; this rule
  # states it.
  security_rule {
    name                       = "all-out"
    priority                   = 1000
    direction                  = "Outbound"
    access                     = "Allow"
    protocol                   = "*"
    source_port_range          = "*"
    destination_port_range     = "*"
    source_address_prefix      = "*"
    destination_address_prefix = "*"
  }
}

# Standard SKU, static: the address survives deallocation (stop/start).
resource "azurerm_public_ip" "this" {
  name                = local.resource_name
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  allocation_method   = "Static"
  sku                 = "Standard"
  tags                = local.tags
}

resource "azurerm_network_interface" "this" {
  name                = local.resource_name
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags

  ip_configuration {
    name                          = "primary"
    subnet_id                     = azurerm_subnet.this.id
    private_ip_address_allocation = "Dynamic"
    public_ip_address_id          = azurerm_public_ip.this.id
  }
}

resource "azurerm_network_interface_security_group_association" "this" {
  network_interface_id      = azurerm_network_interface.this.id
  network_security_group_id = azurerm_network_security_group.this.id
}

resource "azurerm_linux_virtual_machine" "this" {
  name                  = local.resource_name
  location              = azurerm_resource_group.this.location
  resource_group_name   = azurerm_resource_group.this.name
  size                  = local.instance_type
  admin_username        = "hangar"
  network_interface_ids = [azurerm_network_interface.this.id]
  custom_data           = base64encode(local.cloud_init)
  tags                  = local.tags

  disable_password_authentication = true

  admin_ssh_key {
    username   = "hangar"
    public_key = local.admin_key
  }

  os_disk {
    caching              = "ReadWrite"
    storage_account_type = "StandardSSD_LRS"
    disk_size_gb         = local.disk_gb
  }

  source_image_reference {
    publisher = try(local.image.publisher, null)
    offer     = try(local.image.offer, null)
    sku       = try(local.image.sku, null)
    version   = try(local.image.version, null)
  }

  lifecycle {
    precondition {
      condition     = local.image != null
      error_message = "image \"${var.image}\" is not an Azure image: use ubuntu-22.04, ubuntu-24.04, debian-12 or a URN publisher:offer:sku:version."
    }

    precondition {
      condition     = local.instance_type != null
      error_message = "No Azure VM size for cpu=${var.cpu} memory_mb=${var.memory_mb}; supported \"<cpu>-<memory_mb>\" sizes: ${join(", ", keys(local.instance_types))}."
    }

    # custom_data, the admin key, the image and the OS disk are fixed at
    # creation (changing most of them would replace the VM): later applies
    # (stop/start/resize, which may pass another agent_token or key) leave
    # them alone.
    ignore_changes = [
      custom_data,
      admin_ssh_key,
      source_image_reference,
      os_disk[0].disk_size_gb,
    ]
  }

  depends_on = [azurerm_network_interface_security_group_association.this]
}

# Power state. azurerm_linux_virtual_machine has no power-state attribute, so
# the switch is an ARM action on the VM, run by azapi with the same ARM_*
# credentials (no az CLI needed). Exactly one of these two resources exists;
# flipping power_state destroys one (which does nothing in Azure) and creates
# the other, which POSTs .../start or .../deallocate once. "deallocate" (not
# "powerOff") releases the compute so a stopped machine is not billed for it;
# the static public IP and the disk are kept.
#
# Limits, honestly: the action fires only when the resource is created, so
# Terraform does not read the VM's actual power state back. If the VM is started
# or stopped outside Terraform, the next apply with an unchanged power_state does
# not correct it (aws_ec2_instance_state and GCP desired_status do). On create
# with power_state = "running", the "start" action is a harmless no-op on the
# freshly started VM.
resource "azapi_resource_action" "start" {
  count       = var.power_state == "running" ? 1 : 0
  type        = "Microsoft.Compute/virtualMachines@2024-03-01"
  resource_id = azurerm_linux_virtual_machine.this.id
  action      = "start"
  method      = "POST"
}

resource "azapi_resource_action" "deallocate" {
  count       = var.power_state == "stopped" ? 1 : 0
  type        = "Microsoft.Compute/virtualMachines@2024-03-01"
  resource_id = azurerm_linux_virtual_machine.this.id
  action      = "deallocate"
  method      = "POST"
}
