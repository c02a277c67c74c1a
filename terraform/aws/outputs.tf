output "ip_address" {
  description = "Public IPv4 address of the machine (an Elastic IP, stable across stop/start)."
  value       = aws_eip.this.public_ip
}

output "instance_id" {
  description = "EC2 instance id (i-...)."
  value       = aws_instance.this.id
}
