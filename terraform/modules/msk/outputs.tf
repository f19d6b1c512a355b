output "cluster_arn" {
  description = "ARN of the MSK cluster."
  value       = aws_msk_cluster.this.arn
}

output "cluster_name" {
  description = "Name of the MSK cluster."
  value       = aws_msk_cluster.this.cluster_name
}

output "bootstrap_brokers_sasl_iam" {
  description = "Bootstrap servers for IAM clients (port 9098): sluice's KafkaConfig.bootstrap_servers."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_iam
}

output "bootstrap_brokers_sasl_scram" {
  description = "Bootstrap servers for SCRAM clients (port 9096); empty unless SCRAM is enabled."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "security_group_id" {
  description = "Security group of the brokers."
  value       = aws_security_group.this.id
}

output "kms_key_arn" {
  description = "KMS key encrypting the brokers' storage and logs."
  value       = aws_kms_key.this.arn
}
