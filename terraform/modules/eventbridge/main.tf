resource "aws_cloudwatch_event_bus" "this" {
  name               = var.bus_name
  kms_key_identifier = var.kms_key_arn
  tags               = var.tags
}

resource "aws_cloudwatch_event_archive" "this" {
  name             = "${var.bus_name}-archive"
  description      = "Every event on ${var.bus_name}, for replay"
  event_source_arn = aws_cloudwatch_event_bus.this.arn
  retention_days   = var.archive_retention_days
}

resource "aws_cloudwatch_event_rule" "by_type" {
  for_each = var.rules

  name           = "${var.bus_name}-${each.key}"
  description    = "Routes ${each.value.detail_type} events"
  event_bus_name = aws_cloudwatch_event_bus.this.name
  tags           = var.tags

  event_pattern = jsonencode({
    "detail-type" = [each.value.detail_type]
    source        = [{ prefix = var.source_prefix }]
  })
}

resource "aws_cloudwatch_event_rule" "scheduled" {
  for_each = var.scheduled_rules

  name                = "${var.bus_name}-${each.key}"
  description         = "Scheduled: ${each.value.schedule_expression}"
  schedule_expression = each.value.schedule_expression
  tags                = var.tags
}

# Events EventBridge could not deliver after all retries.
resource "aws_sqs_queue" "target_dlq" {
  name                              = "${var.bus_name}-target-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

data "aws_iam_policy_document" "target_dlq" {
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.target_dlq.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = concat([for r in aws_cloudwatch_event_rule.by_type : r.arn], [for r in aws_cloudwatch_event_rule.scheduled : r.arn])
    }
  }
}

resource "aws_sqs_queue_policy" "target_dlq" {
  queue_url = aws_sqs_queue.target_dlq.id
  policy    = data.aws_iam_policy_document.target_dlq.json
}

resource "aws_cloudwatch_event_target" "by_type" {
  for_each = var.rules

  rule           = aws_cloudwatch_event_rule.by_type[each.key].name
  event_bus_name = aws_cloudwatch_event_bus.this.name
  target_id      = "${each.key}-queue"
  arn            = each.value.queue_arn

  retry_policy {
    maximum_retry_attempts       = var.retry_max_attempts
    maximum_event_age_in_seconds = var.retry_max_event_age_seconds
  }

  dead_letter_config {
    arn = aws_sqs_queue.target_dlq.arn
  }

  dynamic "sqs_target" {
    for_each = each.value.message_group_id == null ? [] : [each.value.message_group_id]

    content {
      message_group_id = sqs_target.value
    }
  }
}

resource "aws_cloudwatch_event_target" "scheduled" {
  for_each = var.scheduled_rules

  rule      = aws_cloudwatch_event_rule.scheduled[each.key].name
  target_id = "${each.key}-queue"
  arn       = each.value.queue_arn
  input     = each.value.input

  retry_policy {
    maximum_retry_attempts       = var.retry_max_attempts
    maximum_event_age_in_seconds = var.retry_max_event_age_seconds
  }

  dead_letter_config {
    arn = aws_sqs_queue.target_dlq.arn
  }
}
