locals {
  target_arn_patterns = {
    sqs            = "^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+(\\.fifo)?$"
    lambda         = "^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$"
    step_functions = "^arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[A-Za-z0-9_-]+$"
  }

  # Every target of every rule, keyed "<rule>/<target id>".
  targets = merge(
    { for pair in flatten([for rule, r in var.rules : [for id, t in r.targets : { key = "${rule}/${id}", rule = rule, id = id, target = t, scheduled = false, input = null }]]) : pair.key => pair },
    { for pair in flatten([for rule, r in var.scheduled_rules : [for id, t in r.targets : { key = "${rule}/${id}", rule = rule, id = id, target = t, scheduled = true, input = r.input }]]) : pair.key => pair },
  )
  state_machine_arns = distinct([for t in values(local.targets) : t.target.arn if t.target.kind == "step_functions"])
  rule_arns          = concat([for r in aws_cloudwatch_event_rule.by_type : r.arn], [for r in aws_cloudwatch_event_rule.scheduled : r.arn])
}

data "aws_caller_identity" "current" {}

resource "aws_cloudwatch_event_bus" "this" {
  name               = var.bus_name
  kms_key_identifier = var.kms_key_arn
  tags               = var.tags

  # Events the bus cannot deliver to a rule (for example when the key is
  # unusable) go here instead of being dropped.
  dead_letter_config {
    arn = aws_sqs_queue.target_dlq.arn
  }
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

# Events EventBridge could not deliver after all retries, and events the bus
# itself could not handle.
resource "aws_sqs_queue" "target_dlq" {
  name                              = "${var.bus_name}-target-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

# JSON rather than aws_iam_policy_document, whose read would wait for the
# rules to exist: the plan already shows the policy.
resource "aws_sqs_queue_policy" "target_dlq" {
  queue_url = aws_sqs_queue.target_dlq.url
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EventBridgeDeadLetters"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.target_dlq.arn
      Condition = { ArnEquals = { "aws:SourceArn" = concat(local.rule_arns, [aws_cloudwatch_event_bus.this.arn]) } }
    }]
  })
}

# Step Functions targets need a role EventBridge assumes to start executions.
data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_iam_policy_document" "start_executions" {
  count = length(local.state_machine_arns) > 0 ? 1 : 0

  statement {
    sid       = "StartExecutions"
    actions   = ["states:StartExecution"]
    resources = local.state_machine_arns
  }
}

resource "aws_iam_role" "start_executions" {
  count = length(local.state_machine_arns) > 0 ? 1 : 0

  name               = "${var.bus_name}-start-executions"
  description        = "EventBridge rules of ${var.bus_name} start Step Functions executions"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "start_executions" {
  count = length(local.state_machine_arns) > 0 ? 1 : 0

  name   = "start-executions"
  role   = aws_iam_role.start_executions[0].id
  policy = data.aws_iam_policy_document.start_executions[0].json
}

# Lambda targets are allowed by the function's resource policy, per rule.
resource "aws_lambda_permission" "rules" {
  for_each = { for k, t in local.targets : k => t if t.target.kind == "lambda" }

  statement_id  = "eventbridge-${replace(each.key, "/", "-")}"
  action        = "lambda:InvokeFunction"
  function_name = each.value.target.arn
  principal     = "events.amazonaws.com"
  source_arn    = each.value.scheduled ? aws_cloudwatch_event_rule.scheduled[each.value.rule].arn : aws_cloudwatch_event_rule.by_type[each.value.rule].arn
}

resource "aws_cloudwatch_event_target" "this" {
  for_each = local.targets

  rule           = each.value.scheduled ? aws_cloudwatch_event_rule.scheduled[each.value.rule].name : aws_cloudwatch_event_rule.by_type[each.value.rule].name
  event_bus_name = each.value.scheduled ? null : aws_cloudwatch_event_bus.this.name
  target_id      = each.value.id
  arn            = each.value.target.arn
  input          = each.value.input
  role_arn       = each.value.target.kind == "step_functions" ? aws_iam_role.start_executions[0].arn : null

  retry_policy {
    maximum_retry_attempts       = var.retry_max_attempts
    maximum_event_age_in_seconds = var.retry_max_event_age_seconds
  }

  dead_letter_config {
    arn = aws_sqs_queue.target_dlq.arn
  }

  dynamic "sqs_target" {
    for_each = each.value.target.message_group_id == null ? [] : [each.value.target.message_group_id]

    content {
      message_group_id = sqs_target.value
    }
  }
}
