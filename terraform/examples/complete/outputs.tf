output "bootstrap_brokers_sasl_iam" {
  description = "sluice KafkaConfig.bootstrap_servers (IAM over TLS, port 9098)."
  value       = module.msk.bootstrap_brokers_sasl_iam
}

output "msk_cluster_arn" {
  description = "ARN of the MSK cluster."
  value       = module.msk.cluster_arn
}

output "event_bus_name" {
  description = "Event bus for the bridge's EventBridge routes."
  value       = module.eventbridge.bus_name
}

output "event_bus_arn" {
  description = "ARN of the event bus."
  value       = module.eventbridge.bus_arn
}

output "queue_urls" {
  description = "Work queue URLs, by queue: the bridge's SQS routes."
  value       = { for k, q in module.queues : k => q.queue_url }
}

output "queue_arns" {
  description = "Work queue ARNs, by queue."
  value       = { for k, q in module.queues : k => q.queue_arn }
}

output "dlq_urls" {
  description = "Dead-letter queue URLs, by queue."
  value       = { for k, q in module.queues : k => q.dlq_url }
}

output "role_arns" {
  description = "Role of each service (producer, workers, bridge): the task role, Pod Identity association or service-account annotation."
  value       = module.iam.role_arns
}

output "consumer_groups" {
  description = "Every consumer group that reads the topics (the services' and the archive's); each has a lag alarm."
  value       = local.consumer_groups
}

output "bridge_config" {
  description = "The sluice-bridge configuration file for this deployment: its routes run in exactly the groups the bridge role may join. Write it with terraform output -raw bridge_config > bridge.toml."
  value = templatefile("${path.module}/bridge.toml.tftpl", {
    bootstrap_servers = module.msk.bootstrap_brokers_sasl_iam
    region            = data.aws_region.current.name
    bus_name          = module.eventbridge.bus_name
    notifications_url = module.queues["notifications"].queue_url
    routes            = local.bridge_routes
  })
}

output "alarm_topic_arn" {
  description = "SNS topic receiving every alarm."
  value       = module.alarms.sns_topic_arn
}

output "policy_documents" {
  description = "The IAM policy of each service, as JSON: what exactly each may do."
  value       = module.iam.policy_documents
}

output "alarm_names" {
  description = "Every CloudWatch alarm; all notify alarm_topic_arn."
  value       = module.alarms.alarm_names
}

output "archive_bucket" {
  description = "S3 bucket holding the archived topics; null without archive_plugin."
  value       = one(module.archive[*].bucket_name)
}
