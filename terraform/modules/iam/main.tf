data "aws_caller_identity" "current" {}

locals {
  topic_name     = "^[a-zA-Z0-9._-]{1,249}$"
  group_name     = "^[a-zA-Z0-9._-]{1,255}$"
  prefix_pattern = "^\\^(?:[a-zA-Z0-9_-]|\\\\\\.)*\\.\\*\\$?$"

  # arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID → the topic, group and
  # transactional-id ARNs of the same cluster.
  topic_prefix = replace(var.cluster_arn, ":cluster/", ":topic/")
  group_prefix = replace(var.cluster_arn, ":cluster/", ":group/")
  txn_prefix   = replace(var.cluster_arn, ":cluster/", ":transactional-id/")

  # What a topic entry names in IAM: the topic itself, or for a pattern
  # ^prefix.* its literal prefix followed by IAM's own wildcard.
  consumptions = {
    for service, s in var.services : service => [
      for c in s.consumes : {
        group = c.group
        topics = [
          for t in c.topics : startswith(t, "^")
          ? "${replace(trimsuffix(trimsuffix(trimprefix(t, "^"), "$"), ".*"), "\\.", ".")}*"
          : t
        ]
        dlq_topic = c.dlq_topic
      }
    ]
  }

  grants = {
    for service, s in var.services : service => {
      write_topics = sort(distinct(concat(
        [for t in s.produces : "${local.topic_prefix}/${t}"],
        flatten([for c in local.consumptions[service] : [for t in c.topics : "${local.topic_prefix}/${replace(c.dlq_topic, "{topic}", t)}"]]),
      )))
      read_topics      = sort(distinct(flatten([for c in local.consumptions[service] : [for t in c.topics : "${local.topic_prefix}/${t}"]])))
      groups           = sort(distinct([for c in local.consumptions[service] : "${local.group_prefix}/${c.group}"]))
      transactional    = sort([for id in s.transactional_ids : "${local.txn_prefix}/${id}"])
      event_bus_arns   = s.event_bus_arns
      queue_arns       = s.queue_arns
      kms_key_arns     = s.kms_key_arns
      writes_any_topic = length(s.produces) + length(s.consumes) > 0
    }
  }

  # Each service's statements beyond the cluster, those with a resource.
  statements = {
    for service, g in local.grants : service => [
      for s in [
        { sid = "WriteTopics", actions = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"], resources = g.write_topics },
        { sid = "ReadTopics", actions = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"], resources = g.read_topics },
        { sid = "Groups", actions = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"], resources = g.groups },
        { sid = "TransactionalIds", actions = ["kafka-cluster:AlterTransactionalId", "kafka-cluster:DescribeTransactionalId"], resources = g.transactional },
        { sid = "PutEvents", actions = ["events:PutEvents"], resources = g.event_bus_arns },
        { sid = "SendMessages", actions = ["sqs:GetQueueAttributes", "sqs:SendMessage"], resources = g.queue_arns },
        { sid = "EncryptMessages", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = g.kms_key_arns },
      ] : s if length(s.resources) > 0
    ]
  }

  oidc_issuer = var.trust.kind == "eks_irsa" ? element(split(":oidc-provider/", var.trust.oidc_provider_arn), 1) : ""
}

data "aws_iam_policy_document" "assume" {
  for_each = var.services

  statement {
    actions = var.trust.kind == "eks_irsa" ? ["sts:AssumeRoleWithWebIdentity"] : var.trust.kind == "eks_pod_identity" ? ["sts:AssumeRole", "sts:TagSession"] : ["sts:AssumeRole"]

    principals {
      type        = var.trust.kind == "eks_irsa" ? "Federated" : "Service"
      identifiers = [var.trust.kind == "eks_irsa" ? var.trust.oidc_provider_arn : var.trust.kind == "eks_pod_identity" ? "pods.eks.amazonaws.com" : "ecs-tasks.amazonaws.com"]
    }

    # Services assume the role only on behalf of this account (confused
    # deputy protection); a web identity is bound to one service account.
    dynamic "condition" {
      for_each = var.trust.kind == "eks_irsa" ? {
        "${local.oidc_issuer}:sub" = "system:serviceaccount:${var.trust.namespace}:${var.name}-${each.key}"
        "${local.oidc_issuer}:aud" = "sts.amazonaws.com"
      } : { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }
  }
}

data "aws_iam_policy_document" "service" {
  for_each = local.grants

  statement {
    sid       = "Cluster"
    actions   = concat(["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"], each.value.writes_any_topic ? ["kafka-cluster:WriteDataIdempotently"] : [])
    resources = [var.cluster_arn]
  }

  dynamic "statement" {
    for_each = local.statements[each.key]

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_policy" "service" {
  for_each = var.services

  name        = "${var.name}-${each.key}"
  description = "sluice ${each.key}: exactly the topics, groups and AWS resources it uses"
  policy      = data.aws_iam_policy_document.service[each.key].json
  tags        = var.tags
}

resource "aws_iam_role" "service" {
  for_each = var.services

  name               = "${var.name}-${each.key}"
  description        = "sluice ${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume[each.key].json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "service" {
  for_each = var.services

  role       = aws_iam_role.service[each.key].name
  policy_arn = aws_iam_policy.service[each.key].arn
}
