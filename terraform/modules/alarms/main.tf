resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.email_subscribers)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  for_each = toset(var.dlq_names)

  alarm_name          = "${var.name}-dlq-not-empty-${each.value}"
  alarm_description   = "Messages in dead-letter queue ${each.value}: inspect and redrive them."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message_age" {
  for_each = toset(var.queue_names)

  alarm_name          = "${var.name}-oldest-message-${each.value}"
  alarm_description   = "The oldest message in ${each.value} waits longer than ${var.max_message_age_seconds} s: consumers are behind or stuck."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.max_message_age_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "consumer_lag" {
  for_each = { for c in var.consumer_groups : "${c.group}/${c.topic}" => c }

  alarm_name          = "${var.name}-lag-${replace(each.key, "/", "-")}"
  alarm_description   = "Consumer group ${each.value.group} is more than ${var.max_offset_lag} records behind on ${each.value.topic}."
  namespace           = "AWS/Kafka"
  metric_name         = "SumOffsetLag"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.max_offset_lag
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags

  dimensions = {
    "Cluster Name"   = var.msk_cluster_name
    "Consumer Group" = each.value.group
    Topic            = each.value.topic
  }
}

resource "aws_cloudwatch_metric_alarm" "disk_used" {
  for_each = toset([for i in range(1, var.msk_broker_count + 1) : tostring(i)])

  alarm_name          = "${var.name}-disk-broker-${each.value}"
  alarm_description   = "Broker ${each.value} of ${var.msk_cluster_name} uses more than ${var.max_disk_used_percent}% of its data volume."
  namespace           = "AWS/Kafka"
  metric_name         = "KafkaDataLogsDiskUsed"
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.max_disk_used_percent
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags

  dimensions = {
    "Cluster Name" = var.msk_cluster_name
    "Broker ID"    = each.value
  }
}
