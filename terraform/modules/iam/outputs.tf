output "producer_role_arn" {
  description = "Role for services that produce events."
  value       = aws_iam_role.this["producer"].arn
}

output "consumer_role_arn" {
  description = "Role for services that consume events."
  value       = aws_iam_role.this["consumer"].arn
}

output "bridge_role_arn" {
  description = "Role for the Kafka-to-AWS bridge."
  value       = aws_iam_role.this["bridge"].arn
}

output "policy_arns" {
  description = "The three policies, by role."
  value = {
    producer = aws_iam_policy.producer.arn
    consumer = aws_iam_policy.consumer.arn
    bridge   = aws_iam_policy.bridge.arn
  }
}
