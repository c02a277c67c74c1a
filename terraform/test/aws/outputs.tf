output "ip_address" {
  description = "A TEST-NET-2 address derived from the machine id."
  value       = "198.51.100.${parseint(substr(md5(var.machine_id), 0, 2), 16) % 254 + 1}"
}

output "instance_id" {
  description = "The id of the terraform_data standing for the instance."
  value       = "tfdata-${terraform_data.instance.id}"
}
