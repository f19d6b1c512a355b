# Plans the module with the real AWS provider; nothing reaches AWS.

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

override_resource {
  target          = aws_sns_topic.alarms
  override_during = plan
  values          = { arn = "arn:aws:sns:eu-west-1:123456789012:sluice-alarms" }
}

variables {
  name              = "sluice"
  kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718"
  msk_cluster_name  = "sluice"
  dlq_names         = ["work-dlq"]
  queue_names       = ["work"]
  consumer_groups   = ["sluice-workers", "sluice-bridge.events-to-bus"]
  eventbridge_rules = { received = { rule_name = "bus-received", bus_name = "bus" } }
}

run "every_alarm_notifies_the_encrypted_topic" {
  command = plan

  assert {
    condition     = aws_sns_topic.alarms.kms_master_key_id == var.kms_key_arn
    error_message = "The alarm topic is encrypted."
  }

  assert {
    condition = alltrue([for a in concat(
      values(aws_cloudwatch_metric_alarm.dlq_not_empty), values(aws_cloudwatch_metric_alarm.oldest_message_age),
      values(aws_cloudwatch_metric_alarm.consumer_lag), values(aws_cloudwatch_metric_alarm.disk_used),
      values(aws_cloudwatch_metric_alarm.cpu_used), values(aws_cloudwatch_metric_alarm.partition_health),
      values(aws_cloudwatch_metric_alarm.eventbridge),
      [aws_cloudwatch_metric_alarm.active_controller, aws_cloudwatch_metric_alarm.offline_partitions],
    ) : a.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:sluice-alarms"]) && a.ok_actions == toset(["arn:aws:sns:eu-west-1:123456789012:sluice-alarms"])])
    error_message = "Every alarm and its recovery notify the alarm topic."
  }

  assert {
    condition     = length(output.alarm_names) == 1 + 1 + 2 + 3 + 3 + 2 + 2 + 2
    error_message = "One alarm per DLQ, queue, group, broker disk and CPU, two per rule, four for the cluster."
  }
}

run "lag_is_watched_per_real_group" {
  command = plan

  assert {
    condition     = keys(aws_cloudwatch_metric_alarm.consumer_lag) == ["sluice-bridge.events-to-bus", "sluice-workers"]
    error_message = "One lag alarm per consumer group."
  }

  assert {
    condition     = strcontains(one(aws_cloudwatch_metric_alarm.consumer_lag["sluice-bridge.events-to-bus"].metric_query).expression, "\"Consumer Group\" = 'sluice-bridge.events-to-bus'") && strcontains(one(aws_cloudwatch_metric_alarm.consumer_lag["sluice-workers"].metric_query).expression, "MAX(SumOffsetLag)")
    error_message = "The lag alarm takes the worst topic of exactly its group."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.consumer_lag["sluice-workers"].threshold == 100000 && aws_cloudwatch_metric_alarm.consumer_lag["sluice-workers"].evaluation_periods == 5
    error_message = "Lag above 100 000 records for five minutes."
  }
}

run "cluster_health" {
  command = plan

  assert {
    condition     = contains([for q in aws_cloudwatch_metric_alarm.active_controller.metric_query : q.expression], "ABS(controllers - 1)") && aws_cloudwatch_metric_alarm.active_controller.threshold == 0
    error_message = "The controller alarm fires on anything but exactly one active controller."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.offline_partitions.metric_name == "OfflinePartitionsCount" && aws_cloudwatch_metric_alarm.offline_partitions.threshold == 0
    error_message = "Any offline partition alarms."
  }

  assert {
    condition     = strcontains(one(aws_cloudwatch_metric_alarm.partition_health["under-min-isr"].metric_query).expression, "UnderMinIsrPartitionCount") && strcontains(one(aws_cloudwatch_metric_alarm.partition_health["under-replicated"].metric_query).expression, "UnderReplicatedPartitions")
    error_message = "Partitions under min ISR and under-replicated partitions alarm."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.cpu_used["2"].threshold == 60 && contains([for q in aws_cloudwatch_metric_alarm.cpu_used["2"].metric_query : q.expression], "user + system")
    error_message = "Broker CPU (user + system) above 60 % alarms."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.eventbridge["failed-received"].metric_name == "FailedInvocations" && aws_cloudwatch_metric_alarm.eventbridge["failed-received"].dimensions == tomap({ EventBusName = "bus", RuleName = "bus-received" }) && aws_cloudwatch_metric_alarm.eventbridge["throttled-received"].metric_name == "ThrottledRules"
    error_message = "Failed and throttled EventBridge deliveries alarm per rule."
  }
}
