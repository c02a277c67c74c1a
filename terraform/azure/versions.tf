terraform {
  required_version = ">= 1.5.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.0"
    }
    # Power actions (start / deallocate) on the VM: azurerm has no attribute
    # for a VM's power state.
    azapi = {
      source  = "Azure/azapi"
      version = "~> 2.0"
    }
    # A placeholder admin key when no RSA key is among the authorized keys.
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }
}
