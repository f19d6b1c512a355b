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

# One alarm per consumer group, on its worst topic: a Metrics Insights query
# covers topics a group reads through a pattern, which no fixed dimension can.
resource "aws_cloudwatch_metric_alarm" "consumer_lag" {
  for_each = toset(var.consumer_groups)

  alarm_name          = "${var.name}-lag-${each.value}"
  alarm_description   = "Consumer group ${each.value} is more than ${var.max_offset_lag} records behind on one of its topics."
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.max_offset_lag
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags

  metric_query {
    id          = "lag"
    period      = 60
    return_data = true
    expression  = "SELECT MAX(SumOffsetLag) FROM SCHEMA(\"AWS/Kafka\", \"Cluster Name\", \"Consumer Group\", Topic) WHERE \"Cluster Name\" = '${var.msk_cluster_name}' AND \"Consumer Group\" = '${each.value}'"
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

resource "aws_cloudwatch_metric_alarm" "cpu_used" {
  for_each = toset([for i in range(1, var.msk_broker_count + 1) : tostring(i)])

  alarm_name          = "${var.name}-cpu-broker-${each.value}"
  alarm_description   = "Broker ${each.value} of ${var.msk_cluster_name} uses more than ${var.max_cpu_percent}% CPU (user + system)."
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.max_cpu_percent
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags

  metric_query {
    id          = "cpu"
    expression  = "user + system"
    label       = "CPU used, percent"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { user = "CpuUser", system = "CpuSystem" }

    content {
      id = metric_query.key

      metric {
        namespace   = "AWS/Kafka"
        metric_name = metric_query.value
        period      = 300
        stat        = "Average"
        dimensions = {
          "Cluster Name" = var.msk_cluster_name
          "Broker ID"    = each.value
        }
      }
    }
  }
}

# Exactly one active controller: none means no leader elections, two a split.
resource "aws_cloudwatch_metric_alarm" "active_controller" {
  alarm_name          = "${var.name}-msk-active-controller"
  alarm_description   = "${var.msk_cluster_name} does not have exactly one active controller."
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags

  metric_query {
    id          = "off_by"
    expression  = "ABS(controllers - 1)"
    label       = "Active controllers away from 1"
    return_data = true
  }

  metric_query {
    id = "controllers"

    metric {
      namespace   = "AWS/Kafka"
      metric_name = "ActiveControllerCount"
      period      = 60
      stat        = "Sum"
      dimensions  = { "Cluster Name" = var.msk_cluster_name }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "offline_partitions" {
  alarm_name          = "${var.name}-msk-offline-partitions"
  alarm_description   = "${var.msk_cluster_name} has partitions without a leader: they can be neither written nor read."
  namespace           = "AWS/Kafka"
  metric_name         = "OfflinePartitionsCount"
  dimensions          = { "Cluster Name" = var.msk_cluster_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}

# Per-broker partition health, over every broker of the cluster.
resource "aws_cloudwatch_metric_alarm" "partition_health" {
  for_each = {
    under-min-isr    = { metric = "UnderMinIsrPartitionCount", why = "fewer in-sync replicas than min.insync.replicas: acks=all producers are refused" }
    under-replicated = { metric = "UnderReplicatedPartitions", why = "replicas that are not in sync: one more broker loss can take partitions offline" }
  }

  alarm_name          = "${var.name}-msk-${each.key}"
  alarm_description   = "${var.msk_cluster_name} has partitions with ${each.value.why}."
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags

  metric_query {
    id          = "partitions"
    period      = 60
    return_data = true
    expression  = "SELECT MAX(${each.value.metric}) FROM SCHEMA(\"AWS/Kafka\", \"Broker ID\", \"Cluster Name\") WHERE \"Cluster Name\" = '${var.msk_cluster_name}'"
  }
}

resource "aws_cloudwatch_metric_alarm" "eventbridge" {
  for_each = merge([
    for key, r in var.eventbridge_rules : {
      "failed-${key}"    = merge(r, { metric = "FailedInvocations", what = "could not deliver events to a target (they go to the target dead-letter queue after the retries)" })
      "throttled-${key}" = merge(r, { metric = "ThrottledRules", what = "was throttled: deliveries are delayed" })
    }
  ]...)

  alarm_name          = "${var.name}-eventbridge-${each.key}"
  alarm_description   = "EventBridge rule ${each.value.rule_name} ${each.value.what}."
  namespace           = "AWS/Events"
  metric_name         = each.value.metric
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags

  dimensions = each.value.bus_name == null ? { RuleName = each.value.rule_name } : { EventBusName = each.value.bus_name, RuleName = each.value.rule_name }
}
