output "endpoint_ids" {
  description = "Endpoint id by service, including s3 when the gateway endpoint exists."
  value = merge(
    { for s, e in aws_vpc_endpoint.interface : s => e.id },
    { for e in aws_vpc_endpoint.s3 : "s3" => e.id },
  )
}

output "dns_entries" {
  description = "DNS entries (dns_name, hosted_zone_id) of each interface endpoint, by service; with private DNS the services' usual names resolve to them too."
  value       = { for s, e in aws_vpc_endpoint.interface : s => e.dns_entry }
}

output "security_group_id" {
  description = "Security group of the interface endpoints."
  value       = aws_security_group.this.id
}

output "s3_prefix_list_id" {
  description = "Prefix list of S3 for egress rules of clients (e.g. MSK Connect workers) that use the gateway endpoint; null without it."
  value       = one(aws_vpc_endpoint.s3[*].prefix_list_id)
}
