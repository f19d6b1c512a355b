data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

data "aws_vpc" "this" {
  id = var.vpc_id
}

locals {
  # Client ports: 9098 IAM over TLS, 9096 SASL/SCRAM over TLS. 9094 (TLS
  # with mutual-TLS authentication) stays closed: no client certificates are
  # configured, so nothing could authenticate on it.
  client_ports = var.enable_scram ? [9096, 9098] : [9098]
  # Open monitoring: 11001 JMX exporter, 11002 node exporter.
  monitoring_ports = [11001, 11002]
  account_root     = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
  logs_service     = "logs.${data.aws_region.current.name}.amazonaws.com"

  ingress_from_cidrs = {
    for pair in setproduct(local.client_ports, var.allowed_cidr_blocks) : "${pair[0]}-${pair[1]}" => { port = pair[0], cidr = pair[1] }
  }
  # Keyed by position, not id: the groups are often created in the same
  # apply, and for_each keys must be known when planning.
  ingress_from_groups = merge([
    for i, group in var.allowed_security_group_ids : {
      for port in local.client_ports : "${port}-${i}" => { port = port, group = group }
    }
  ]...)
  monitoring_from_cidrs = {
    for pair in setproduct(local.monitoring_ports, var.monitoring_cidr_blocks) : "${pair[0]}-${pair[1]}" => { port = pair[0], cidr = pair[1] }
  }

  # A configuration is tied to the Kafka versions it names, so a new version
  # gets a new configuration, created before the cluster moves off the old one.
  configuration_name = "${var.name}-${replace(var.kafka_version, ".", "-")}"
}

# Encryption at rest for the brokers' volumes and the broker log group.
resource "aws_kms_key" "this" {
  description             = "MSK ${var.name}: encryption at rest and broker logs"
  deletion_window_in_days = 30
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-msk"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "kms" {
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
    sid       = "CloudWatchLogsEncrypts"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = [local.logs_service]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/aws/msk/${var.name}"]
    }
  }
}

resource "aws_cloudwatch_log_group" "brokers" {
  name              = "/aws/msk/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = var.tags
}

resource "aws_msk_configuration" "this" {
  name           = local.configuration_name
  kafka_versions = [var.kafka_version]
  description    = "sluice defaults: no auto-created topics, RF 3, min ISR 2, 7-day retention"

  server_properties = <<-EOT
    auto.create.topics.enable=false
    default.replication.factor=3
    min.insync.replicas=2
    log.retention.hours=168
    unclean.leader.election.enable=false
    num.partitions=12
  EOT

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "this" {
  name        = "${var.name}-msk"
  description = "MSK ${var.name}: client ports from allowed networks only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "from_cidr" {
  for_each = local.ingress_from_cidrs

  security_group_id = aws_security_group.this.id
  description       = "Kafka clients on ${each.value.port}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

resource "aws_vpc_security_group_ingress_rule" "from_group" {
  for_each = local.ingress_from_groups

  security_group_id            = aws_security_group.this.id
  description                  = "Kafka clients on ${each.value.port}"
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = each.value.group
}

resource "aws_vpc_security_group_ingress_rule" "monitoring" {
  for_each = local.monitoring_from_cidrs

  security_group_id = aws_security_group.this.id
  description       = "Prometheus scrapes the ${each.value.port == 11001 ? "JMX" : "node"} exporter"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

resource "aws_vpc_security_group_egress_rule" "within_vpc" {
  security_group_id = aws_security_group.this.id
  description       = "Broker replication and ZooKeeper/KRaft traffic stays in the VPC"
  ip_protocol       = "tcp"
  from_port         = 0
  to_port           = 65535
  cidr_ipv4         = data.aws_vpc.this.cidr_block
}

resource "aws_msk_cluster" "this" {
  cluster_name           = var.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.broker_count
  enhanced_monitoring    = var.enhanced_monitoring
  tags                   = var.tags

  broker_node_group_info {
    instance_type   = var.instance_type
    client_subnets  = var.subnet_ids
    security_groups = [aws_security_group.this.id]

    storage_info {
      ebs_storage_info {
        volume_size = var.volume_size_gib
      }
    }

    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  client_authentication {
    unauthenticated = false

    sasl {
      iam   = true
      scram = var.enable_scram
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = aws_kms_key.this.arn

    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  open_monitoring {
    prometheus {
      jmx_exporter {
        enabled_in_broker = true
      }

      node_exporter {
        enabled_in_broker = true
      }
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.brokers.name
      }
    }
  }

  lifecycle {
    # Storage auto-scaling grows the volumes; do not shrink them back.
    ignore_changes = [broker_node_group_info[0].storage_info[0].ebs_storage_info[0].volume_size]
  }
}

resource "aws_msk_scram_secret_association" "this" {
  count = var.enable_scram && length(var.scram_secret_arns) > 0 ? 1 : 0

  cluster_arn     = aws_msk_cluster.this.arn
  secret_arn_list = var.scram_secret_arns
}

resource "aws_appautoscaling_target" "storage" {
  service_namespace  = "kafka"
  scalable_dimension = "kafka:broker-storage:VolumeSize"
  resource_id        = aws_msk_cluster.this.arn
  min_capacity       = 1
  max_capacity       = var.max_volume_size_gib
}

resource "aws_appautoscaling_policy" "storage" {
  name               = "${var.name}-storage"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.storage.service_namespace
  scalable_dimension = aws_appautoscaling_target.storage.scalable_dimension
  resource_id        = aws_appautoscaling_target.storage.resource_id

  target_tracking_scaling_policy_configuration {
    target_value = var.storage_target_utilization

    predefined_metric_specification {
      predefined_metric_type = "KafkaBrokerStorageUtilization"
    }
  }
}
