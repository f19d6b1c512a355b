# A complete sluice deployment: MSK for the event streams, an EventBridge bus
# whose rules feed SQS work queues (each with its own DLQ), alarms to an
# encrypted SNS topic, and least-privilege roles for producers, consumers and
# the Kafka-to-AWS bridge.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"

  # Work queues of the reference system; notifications keep order per tenant.
  queues = {
    notifications      = { fifo = true }
    plugin_execution   = { fifo = false }
    email_processing   = { fifo = false }
    workflow_execution = { fifo = false }
    batch_operations   = { fifo = false }
  }

  # One rule per event type, each feeding the queue that acts on it.
  rules = {
    email_received     = { detail_type = "email.received.v1", queue = "email_processing" }
    email_validated    = { detail_type = "email.validated.v1", queue = "plugin_execution" }
    email_processed    = { detail_type = "email.processed.v1", queue = "notifications" }
    plugin_executed    = { detail_type = "plugin.executed.v1", queue = "workflow_execution" }
    workflow_triggered = { detail_type = "workflow.triggered.v1", queue = "workflow_execution" }
  }

  topics = ["email.received", "email.validated", "email.processed", "plugin.executed", "workflow.triggered"]
}

# One key for the data at rest outside MSK: queues, bus and alarm topic.
resource "aws_kms_key" "data" {
  description             = "${var.name}: SQS, EventBridge and SNS encryption"
  deletion_window_in_days = 30
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.data_key.json
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

data "aws_iam_policy_document" "data_key" {
  # A key policy's "*" resource is the key itself, and the account root
  # statement is what lets IAM policies grant use of the key at all.
  #checkov:skip=CKV_AWS_109:Key policy; "*" is this key and the principal is the account root
  #checkov:skip=CKV_AWS_111:Key policy; "*" is this key and principals are the account root and AWS services of this account
  #checkov:skip=CKV_AWS_356:Key policy; "*" is this key, no other resource can be named

  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }

  statement {
    sid       = "ServicesEncrypt"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt", "kms:DescribeKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "cloudwatch.amazonaws.com", "sqs.amazonaws.com", "sns.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

module "msk" {
  source = "../../modules/msk"

  name                = var.name
  kafka_version       = var.kafka_version
  vpc_id              = var.vpc_id
  subnet_ids          = var.private_subnet_ids
  broker_count        = var.broker_count
  instance_type       = var.broker_instance_type
  allowed_cidr_blocks = var.client_cidr_blocks
  tags                = var.tags
}

module "queues" {
  source   = "../../modules/sqs-queue"
  for_each = local.queues

  name                       = "${var.name}-${replace(each.key, "_", "-")}"
  fifo                       = each.value.fifo
  visibility_timeout_seconds = var.visibility_timeouts[each.key]
  kms_key_arn                = aws_kms_key.data.arn
  allowed_sender_role_arns   = [module.iam.bridge_role_arn]
  tags                       = var.tags

  allowed_source_arns = concat(
    [for rule, r in local.rules : module.eventbridge.rule_arns[rule] if r.queue == each.key],
    [for rule, arn in module.eventbridge.scheduled_rule_arns : arn if each.key == "batch_operations"],
  )
}

module "eventbridge" {
  source = "../../modules/eventbridge"

  bus_name    = "${var.name}-events"
  kms_key_arn = aws_kms_key.data.arn
  tags        = var.tags

  rules = {
    for rule, r in local.rules : rule => {
      detail_type      = r.detail_type
      queue_arn        = module.queues[r.queue].queue_arn
      message_group_id = local.queues[r.queue].fifo ? rule : null
    }
  }

  scheduled_rules = {
    cleanup = {
      schedule_expression = "cron(0 3 * * ? *)"
      queue_arn           = module.queues["batch_operations"].queue_arn
      input               = jsonencode({ operation = "cleanup" })
    }
  }
}

module "alarms" {
  source = "../../modules/alarms"

  name              = var.name
  kms_key_arn       = aws_kms_key.data.arn
  email_subscribers = var.alarm_emails
  msk_cluster_name  = module.msk.cluster_name
  msk_broker_count  = var.broker_count
  tags              = var.tags

  dlq_names   = concat([for q in module.queues : q.dlq_name], [module.eventbridge.target_dlq_name])
  queue_names = [for q in module.queues : q.queue_name]

  consumer_groups = [for t in local.topics : { group = "${var.name}-bridge", topic = t }]
}

module "iam" {
  source = "../../modules/iam"

  name                 = var.name
  cluster_arn          = module.msk.cluster_arn
  producer_topics      = local.topics
  consumer_topics      = local.topics
  consumer_groups      = ["${var.name}-workers"]
  bridge_topics        = local.topics
  bridge_group         = "${var.name}-bridge"
  bridge_event_bus_arn = module.eventbridge.bus_arn
  bridge_queue_arns    = [for q in module.queues : q.queue_arn]
  kms_key_arns         = [aws_kms_key.data.arn]
  tags                 = var.tags
}
