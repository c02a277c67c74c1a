output "ip_address" {
  description = "Static public IPv4 address of the machine (kept while it is deallocated)."
  value       = azurerm_public_ip.this.ip_address
}

output "instance_id" {
  description = "Azure resource id of the virtual machine."
  value       = azurerm_linux_virtual_machine.this.id
}
