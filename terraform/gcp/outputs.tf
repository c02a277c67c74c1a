output "ip_address" {
  description = "Ephemeral external IPv4 address of the machine; empty while it is stopped."
  value       = try(google_compute_instance.this.network_interface[0].access_config[0].nat_ip, "")
}

output "instance_id" {
  description = "Compute Engine instance id (projects/<project>/zones/<zone>/instances/<name>)."
  value       = google_compute_instance.this.id
}
