locals {
  # arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID → the topic and group
  # ARNs of the same cluster: arn:aws:kafka:REGION:ACCOUNT:topic/NAME/UUID/TOPIC.
  topic_prefix = replace(var.cluster_arn, ":cluster/", ":topic/")
  group_prefix = replace(var.cluster_arn, ":cluster/", ":group/")

  producer_topic_arns = [for t in var.producer_topics : "${local.topic_prefix}/${t}"]
  consumer_topic_arns = [for t in var.consumer_topics : "${local.topic_prefix}/${t}"]
  consumer_dlq_arns   = [for t in var.consumer_topics : "${local.topic_prefix}/${t}.dlq"]
  consumer_group_arns = [for g in var.consumer_groups : "${local.group_prefix}/${g}"]
  bridge_topic_arns   = [for t in var.bridge_topics : "${local.topic_prefix}/${t}"]
  bridge_dlq_arns     = [for t in var.bridge_topics : "${local.topic_prefix}/${t}.dlq"]
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [var.trusted_service]
    }
  }
}

# Producer: connect, and write idempotently to its topics.
data "aws_iam_policy_document" "producer" {
  statement {
    sid       = "Cluster"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"]
    resources = [var.cluster_arn]
  }

  statement {
    sid       = "Topics"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
    resources = local.producer_topic_arns
  }
}

# Consumer: read its topics in its groups, write dead letters to <topic>.dlq.
data "aws_iam_policy_document" "consumer" {
  statement {
    sid       = "Cluster"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"]
    resources = [var.cluster_arn]
  }

  statement {
    sid       = "ReadTopics"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = local.consumer_topic_arns
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
    resources = local.consumer_dlq_arns
  }

  statement {
    sid       = "Groups"
    actions   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
    resources = local.consumer_group_arns
  }
}

# Bridge: a consumer of its topics that sends to its queues and bus.
data "aws_iam_policy_document" "bridge" {
  statement {
    sid       = "Cluster"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"]
    resources = [var.cluster_arn]
  }

  statement {
    sid       = "ReadTopics"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = local.bridge_topic_arns
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
    resources = local.bridge_dlq_arns
  }

  statement {
    sid       = "Group"
    actions   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
    resources = ["${local.group_prefix}/${var.bridge_group}"]
  }

  statement {
    sid       = "PutEvents"
    actions   = ["events:PutEvents"]
    resources = [var.bridge_event_bus_arn]
  }

  dynamic "statement" {
    for_each = length(var.bridge_queue_arns) > 0 ? [1] : []

    content {
      sid       = "SendMessages"
      actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
      resources = var.bridge_queue_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.kms_key_arns) > 0 ? [1] : []

    content {
      sid       = "EncryptMessages"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = var.kms_key_arns
    }
  }
}

resource "aws_iam_policy" "producer" {
  name        = "${var.name}-producer"
  description = "sluice producer: write to ${join(", ", var.producer_topics)}"
  policy      = data.aws_iam_policy_document.producer.json
}

resource "aws_iam_policy" "consumer" {
  name        = "${var.name}-consumer"
  description = "sluice consumer: read ${join(", ", var.consumer_topics)}"
  policy      = data.aws_iam_policy_document.consumer.json
}

resource "aws_iam_policy" "bridge" {
  name        = "${var.name}-bridge"
  description = "sluice bridge: Kafka to EventBridge and SQS"
  policy      = data.aws_iam_policy_document.bridge.json
}

resource "aws_iam_role" "this" {
  for_each = toset(["producer", "consumer", "bridge"])

  name               = "${var.name}-${each.key}"
  description        = "sluice ${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "this" {
  for_each = {
    producer = aws_iam_policy.producer.arn
    consumer = aws_iam_policy.consumer.arn
    bridge   = aws_iam_policy.bridge.arn
  }

  role       = aws_iam_role.this[each.key].name
  policy_arn = each.value
}
