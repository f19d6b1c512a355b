# A complete sluice deployment: MSK for the event streams, an EventBridge bus
# whose rules feed SQS work queues (each with its own DLQ), alarms to an
# encrypted SNS topic, and least-privilege roles for producers, consumers and
# the Kafka-to-AWS bridge.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
  bus_name     = "${var.name}-events"
  # Rule ARNs follow from the names the eventbridge module gives its rules,
  # so the queues' policies can name them without waiting for the rules
  # (whose targets need the queues first).
  rule_arn_prefix = "arn:${data.aws_partition.current.partition}:events:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:rule"

  # Work queues of the reference system. Notifications keep order per tenant,
  # which EventBridge cannot give a FIFO queue (it sends one fixed message
  # group per target): the bridge sends them, grouped by tenant.
  queues = {
    notifications      = { fifo = true }
    plugin_execution   = { fifo = false }
    email_processing   = { fifo = false }
    workflow_execution = { fifo = false }
    batch_operations   = { fifo = false }
  }

  # One rule per event type on the bus, each feeding the queue that acts on
  # it, plus the Lambda functions and state machines given as variables.
  rule_types = {
    email_received     = { detail_type = "email.received.v1", queue = "email_processing" }
    email_validated    = { detail_type = "email.validated.v1", queue = "plugin_execution" }
    email_processed    = { detail_type = "email.processed.v1", queue = null }
    plugin_executed    = { detail_type = "plugin.executed.v1", queue = "workflow_execution" }
    workflow_triggered = { detail_type = "workflow.triggered.v1", queue = "workflow_execution" }
  }
  rules = {
    for rule, r in local.rule_types : rule => {
      detail_type = r.detail_type
      targets = merge(
        r.queue == null ? {} : { queue = { kind = "sqs", arn = module.queues[r.queue].queue_arn, message_group_id = null } },
        contains(keys(var.lambda_targets), rule) ? { function = { kind = "lambda", arn = var.lambda_targets[rule], message_group_id = null } } : {},
        contains(keys(var.state_machine_targets), rule) ? { state-machine = { kind = "step_functions", arn = var.state_machine_targets[rule], message_group_id = null } } : {},
      )
    } if r.queue != null || contains(keys(var.lambda_targets), rule) || contains(keys(var.state_machine_targets), rule)
  }

  topics = ["email.received", "email.validated", "email.processed", "plugin.executed", "workflow.triggered"]

  # The bridge's routes, as in its configuration file (see the bridge_config
  # output); each runs in consumer group sluice-bridge.<route>.
  bridge_routes = {
    events-to-bus = {
      # Names, not a pattern: ^workflow\..* would also match the workers'
      # DLQ workflow.triggered.dlq and send dead letters to the bus.
      topics      = local.topics
      dlq_topic   = "{topic}.dlq"
      destination = "eventbridge"
    }
    processed-to-notifications = {
      topics      = ["email.processed"]
      dlq_topic   = "{topic}.notifications.dlq"
      destination = "notifications"
    }
  }

  # Every group that reads the topics: the services' and the archive's sink.
  consumer_groups = distinct(concat([for c in module.iam.consumer_groups : c.group], module.archive[*].consumer_group))

  # What each service does: the IAM policies, the lag alarms and the bridge
  # configuration all follow from this.
  services = {
    producer = {
      produces = local.topics
    }
    workers = {
      consumes = [{ group = "${var.name}-workers", topics = local.topics, dlq_topic = "{topic}.dlq" }]
    }
    bridge = {
      consumes       = [for route, r in local.bridge_routes : { group = "sluice-bridge.${route}", topics = r.topics, dlq_topic = r.dlq_topic }]
      event_bus_arns = [module.eventbridge.bus_arn]
      queue_arns     = [module.queues["notifications"].queue_arn]
      kms_key_arns   = [aws_kms_key.data.arn]
    }
  }
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

  name                       = var.name
  kafka_version              = var.kafka_version
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.private_subnet_ids
  broker_count               = var.broker_count
  instance_type              = var.broker_instance_type
  allowed_cidr_blocks        = var.client_cidr_blocks
  allowed_security_group_ids = var.archive_plugin == null ? [] : [aws_security_group.archive_workers[0].id]
  monitoring_cidr_blocks     = var.monitoring_cidr_blocks
  tags                       = var.tags
}

# The AWS APIs the services call, reachable from private subnets without a
# NAT gateway, and S3 for the archive's workers.
module "vpc_endpoints" {
  source = "../../modules/vpc-endpoints"

  name                       = var.name
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.private_subnet_ids
  allowed_cidr_blocks        = var.client_cidr_blocks
  s3_gateway_route_table_ids = var.private_route_table_ids
  tags                       = var.tags
}

# Every event topic archived to S3 through MSK Connect, kept beyond the
# cluster's 7 days; created when the S3 sink plugin's ZIP is given.
resource "aws_security_group" "archive_workers" {
  count = var.archive_plugin == null ? 0 : 1

  name        = "${var.name}-archive-workers"
  description = "MSK Connect workers of ${var.name}-archive: out to the brokers and S3 only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "archive_to_brokers" {
  count = var.archive_plugin == null ? 0 : 1

  security_group_id            = aws_security_group.archive_workers[0].id
  description                  = "Kafka over IAM and TLS"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = module.msk.security_group_id
}

resource "aws_vpc_security_group_egress_rule" "archive_to_s3" {
  count = var.archive_plugin == null ? 0 : 1

  security_group_id = aws_security_group.archive_workers[0].id
  description       = "S3 through the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = module.vpc_endpoints.s3_prefix_list_id
}

module "archive" {
  source = "../../modules/msk-connect-s3"
  count  = var.archive_plugin == null ? 0 : 1

  name                       = "${var.name}-archive"
  cluster_arn                = module.msk.cluster_arn
  bootstrap_servers          = module.msk.bootstrap_brokers_sasl_iam
  subnet_ids                 = var.private_subnet_ids
  security_group_ids         = [aws_security_group.archive_workers[0].id]
  topics                     = local.topics
  archive_dead_letter_topics = true
  plugin_bucket_arn          = var.archive_plugin.bucket_arn
  plugin_file_key            = var.archive_plugin.file_key
  tags                       = var.tags
}

module "queues" {
  source   = "../../modules/sqs-queue"
  for_each = local.queues

  name                       = "${var.name}-${replace(each.key, "_", "-")}"
  fifo                       = each.value.fifo
  visibility_timeout_seconds = var.visibility_timeouts[each.key]
  kms_key_arn                = aws_kms_key.data.arn
  allowed_sender_role_arns   = each.key == "notifications" ? [module.iam.role_arns["bridge"]] : []
  tags                       = var.tags

  allowed_source_arns = concat(
    [for rule, r in local.rule_types : "${local.rule_arn_prefix}/${local.bus_name}/${local.bus_name}-${rule}" if r.queue == each.key],
    each.key == "batch_operations" ? ["${local.rule_arn_prefix}/${local.bus_name}-cleanup"] : [],
  )
}

module "eventbridge" {
  source = "../../modules/eventbridge"

  bus_name    = local.bus_name
  kms_key_arn = aws_kms_key.data.arn
  tags        = var.tags
  rules       = local.rules

  scheduled_rules = {
    cleanup = {
      schedule_expression = "cron(0 3 * * ? *)"
      input               = jsonencode({ operation = "cleanup" })
      targets             = { queue = { kind = "sqs", arn = module.queues["batch_operations"].queue_arn } }
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

  dlq_names         = concat([for q in module.queues : q.dlq_name], [module.eventbridge.target_dlq_name])
  queue_names       = [for q in module.queues : q.queue_name]
  consumer_groups   = local.consumer_groups
  eventbridge_rules = { for rule, name in module.eventbridge.rule_names : rule => { rule_name = name, bus_name = local.bus_name } }
}

module "iam" {
  source = "../../modules/iam"

  name        = var.name
  cluster_arn = module.msk.cluster_arn
  services    = local.services
  trust       = var.trust
  tags        = var.tags
}
