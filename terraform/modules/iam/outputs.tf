output "role_arns" {
  description = "Role of each service, by service name: the task role, Pod Identity association or service-account annotation of that service."
  value       = { for k, r in aws_iam_role.service : k => r.arn }
}

output "policy_arns" {
  description = "Policy of each service, by service name."
  value       = { for k, p in aws_iam_policy.service : k => p.arn }
}

output "policy_documents" {
  description = "The policy document of each service, as JSON, by service name."
  value       = { for k, d in data.aws_iam_policy_document.service : k => d.json }
}

output "consumer_groups" {
  description = "Every consumer group the services run, with its service and the topics (names or IAM prefixes ending in *) it reads; the lag alarms watch these."
  value       = flatten([for service, cs in local.consumptions : [for c in cs : { service = service, group = c.group, topics = c.topics }]])
}
