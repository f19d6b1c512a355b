output "bus_name" {
  description = "Name of the event bus: the event_bus of a sluice bridge route."
  value       = aws_cloudwatch_event_bus.this.name
}

output "bus_arn" {
  description = "ARN of the event bus."
  value       = aws_cloudwatch_event_bus.this.arn
}

output "rule_names" {
  description = "Name of each event-type rule, by rule key (the FailedInvocations alarms watch these)."
  value       = { for k, r in aws_cloudwatch_event_rule.by_type : k => r.name }
}

output "rule_arns" {
  description = "ARN of each event-type rule, by rule key."
  value       = { for k, r in aws_cloudwatch_event_rule.by_type : k => r.arn }
}

output "scheduled_rule_arns" {
  description = "ARN of each scheduled rule, by rule key."
  value       = { for k, r in aws_cloudwatch_event_rule.scheduled : k => r.arn }
}

output "archive_arn" {
  description = "ARN of the replay archive."
  value       = aws_cloudwatch_event_archive.this.arn
}

output "target_dlq_arn" {
  description = "Dead-letter queue for events EventBridge could not deliver."
  value       = aws_sqs_queue.target_dlq.arn
}

output "target_dlq_name" {
  description = "Name of the target dead-letter queue."
  value       = aws_sqs_queue.target_dlq.name
}

output "start_executions_role_arn" {
  description = "Role EventBridge assumes to start Step Functions executions; null without Step Functions targets."
  value       = one(aws_iam_role.start_executions[*].arn)
}
