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
  description = "Roles for producers, consumers and the bridge."
  value = {
    producer = module.iam.producer_role_arn
    consumer = module.iam.consumer_role_arn
    bridge   = module.iam.bridge_role_arn
  }
}

output "alarm_topic_arn" {
  description = "SNS topic receiving every alarm."
  value       = module.alarms.sns_topic_arn
}
