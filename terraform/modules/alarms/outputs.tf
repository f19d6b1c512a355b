output "sns_topic_arn" {
  description = "SNS topic every alarm notifies."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Names of all alarms."
  value = concat(
    [for a in aws_cloudwatch_metric_alarm.dlq_not_empty : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.oldest_message_age : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.consumer_lag : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.disk_used : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.cpu_used : a.alarm_name],
    [aws_cloudwatch_metric_alarm.active_controller.alarm_name, aws_cloudwatch_metric_alarm.offline_partitions.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.partition_health : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.eventbridge : a.alarm_name],
  )
}
