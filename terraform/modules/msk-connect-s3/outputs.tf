output "connector_arn" {
  description = "ARN of the MSK Connect connector."
  value       = aws_mskconnect_connector.this.arn
}

output "connector_name" {
  description = "Name of the connector; its consumer group, for lag alarms, is connect-<name>."
  value       = aws_mskconnect_connector.this.name
}

output "consumer_group" {
  description = "Consumer group of the sink (connect-<name>), e.g. for the alarms module's consumer_groups."
  value       = "connect-${aws_mskconnect_connector.this.name}"
}

output "bucket_name" {
  description = "Name of the archive bucket."
  value       = aws_s3_bucket.archive.bucket
}

output "bucket_arn" {
  description = "ARN of the archive bucket."
  value       = aws_s3_bucket.archive.arn
}

output "kms_key_arn" {
  description = "KMS key encrypting the archive and the worker logs; readers of the archive need kms:Decrypt on it."
  value       = aws_kms_key.this.arn
}

output "role_arn" {
  description = "Service execution role of the connector."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the connector's workers."
  value       = aws_cloudwatch_log_group.this.name
}

output "custom_plugin_arn" {
  description = "ARN of the S3 sink custom plugin."
  value       = aws_mskconnect_custom_plugin.s3_sink.arn
}
