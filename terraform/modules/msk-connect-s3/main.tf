data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  partition    = data.aws_partition.current.partition
  region       = data.aws_region.current.name
  account_id   = data.aws_caller_identity.current.account_id
  account_root = "arn:${local.partition}:iam::${local.account_id}:root"

  bucket_name   = coalesce(var.bucket_name, "${var.name}-${local.account_id}")
  log_group     = "/aws/vendedlogs/kafkaconnect/${var.name}"
  log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group}"

  # arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID → the topic and group ARNs
  # of the same cluster, as in the iam module.
  topic_prefix = replace(var.cluster_arn, ":cluster/", ":topic/")
  group_prefix = replace(var.cluster_arn, ":cluster/", ":group/")

  archived_topics = distinct(concat(var.topics, var.archive_dead_letter_topics ? [for t in var.topics : "${t}.dlq"] : []))
  topic_names     = var.topics_regex == null ? local.archived_topics : var.topic_name_patterns
  topic_arns      = [for t in local.topic_names : "${local.topic_prefix}/${t}"]

  # A sink connector's consumer group is connect-<connector name> (Kafka
  # Connect's SinkUtils.consumerGroupId; AWS: "Each sink connector creates a
  # group named connect-{CONNECTOR_NAME}", MSK Connect workers guide).
  consumer_group_arn = "${local.group_prefix}/connect-${var.name}"

  # MSK Connect creates its internal topics as
  # __amazon_msk_connect_<configs|offsets|status>_<connector name>_<connector id>
  # (MSK developer guide, "Manage source connector offsets"). The id is only
  # known after creation, the name now.
  internal_topic_arn = "${local.topic_prefix}/__amazon_msk_connect_*_${var.name}_*"
  # The workers' own group (how they share the tasks) is not documented by
  # name; AWS's service execution role policy grants the prefix.
  internal_group_arn = "${local.group_prefix}/__amazon_msk_connect_*"

  # Kafka 3.x clients (Connect 3.7.x) produce idempotently by default, which
  # MSK's IAM authorizer checks as WriteDataIdempotently on the cluster.
  cluster_actions = concat(
    ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"],
    startswith(var.kafkaconnect_version, "3.") ? ["kafka-cluster:WriteDataIdempotently"] : [],
  )

  plugin_object_arn = "${var.plugin_bucket_arn}/${var.plugin_file_key}"

  # Confluent S3 sink format classes. With ByteArrayConverter every value is
  # an opaque byte array: Avro writes it as an Avro "bytes" datum (framed, so
  # binary payloads survive), JSON as a base64 string per line, ByteArrayFormat
  # as the raw bytes followed by a newline.
  format_classes = {
    avro  = "io.confluent.connect.s3.format.avro.AvroFormat"
    json  = "io.confluent.connect.s3.format.json.JsonFormat"
    bytes = "io.confluent.connect.s3.format.bytearray.ByteArrayFormat"
  }
  compression = var.output_format == "avro" ? { "avro.codec" = "deflate" } : { "s3.compression.type" = "gzip" }
}

# Encryption at rest for the archive objects and the worker log group.
resource "aws_kms_key" "this" {
  description             = "MSK Connect ${var.name}: S3 archive and worker logs"
  deletion_window_in_days = 30
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-archive"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "kms" {
  # A key policy's "*" resource is the key itself, and the account root
  # statement is what lets IAM policies (the connector's role) use the key.
  #checkov:skip=CKV_AWS_109:Key policy; "*" is this key and the principal is the account root
  #checkov:skip=CKV_AWS_111:Key policy; "*" is this key and principals are the account root and CloudWatch Logs of this log group
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
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn]
    }
  }
}

# Worker logs are vended logs: MSK Connect delivers them (through
# delivery.logs.amazonaws.com), not the connector's role. The /aws/vendedlogs/
# prefix keeps CloudWatch Logs' account resource policy from outgrowing its
# size limit as connectors are added.
resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = var.tags
}

# Archive bucket ---------------------------------------------------------

resource "aws_s3_bucket" "archive" {
  #checkov:skip=CKV_AWS_144:An archive of replayable Kafka topics; a second-region copy is a per-deployment decision (add aws_s3_bucket_replication_configuration beside the module)
  #checkov:skip=CKV2_AWS_62:Nothing reacts to new archive objects; readers (Athena, replays) query by prefix
  bucket = local.bucket_name
  tags   = var.tags
}

resource "aws_s3_bucket_ownership_controls" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "archive" {
  bucket                  = aws_s3_bucket.archive.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "archive" {
  bucket = aws_s3_bucket.archive.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    id     = "archive"
    status = "Enabled"

    filter {}

    transition {
      days          = var.glacier_transition_days
      storage_class = var.archive_storage_class
    }

    expiration {
      days = var.expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }

  # Lifecycle rules on a versioned bucket act on versions only once
  # versioning is on.
  depends_on = [aws_s3_bucket_versioning.archive]
}

resource "aws_s3_bucket_logging" "archive" {
  count = var.access_log_bucket == null ? 0 : 1

  bucket        = aws_s3_bucket.archive.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${local.bucket_name}/"
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.archive.arn, "${aws_s3_bucket.archive.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # Objects that name an encryption must name this key.
  statement {
    sid       = "ArchiveKeyOnly"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.archive.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [aws_kms_key.this.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "archive" {
  bucket = aws_s3_bucket.archive.id
  policy = data.aws_iam_policy_document.bucket.json

  depends_on = [aws_s3_bucket_public_access_block.archive]
}

# Service execution role -------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["kafkaconnect.amazonaws.com"]
    }

    # Confused-deputy protection: only MSK Connect acting for this account's
    # connector of this name (its id is assigned at creation).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:kafkaconnect:${local.region}:${local.account_id}:connector/${var.name}/*"]
    }
  }
}

# What MSK Connect's service execution role needs with IAM authentication
# (MSK developer guide, "Understand service execution role"), narrowed to this
# connector's topics, group and internal topics, plus the S3 sink's calls:
# HeadBucket and ListObjects (s3:ListBucket), HeadObject (s3:GetObject),
# multipart uploads (s3:PutObject, s3:AbortMultipartUpload).
data "aws_iam_policy_document" "connector" {
  statement {
    sid       = "Cluster"
    actions   = local.cluster_actions
    resources = [var.cluster_arn]
  }

  statement {
    sid       = "ReadTopics"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = local.topic_arns
  }

  statement {
    sid       = "ConsumerGroup"
    actions   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
    resources = [local.consumer_group_arn]
  }

  statement {
    sid       = "InternalTopics"
    actions   = ["kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic", "kafka-cluster:ReadData", "kafka-cluster:WriteData"]
    resources = [local.internal_topic_arn]
  }

  statement {
    sid       = "WorkerGroup"
    actions   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
    resources = [local.internal_group_arn]
  }

  dynamic "statement" {
    for_each = var.dlq_topic == null ? [] : [var.dlq_topic]

    content {
      sid       = "DeadLetters"
      actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
      resources = ["${local.topic_prefix}/${statement.value}"]
    }
  }

  # MSK Connect fetches the plugin with this role when workers start.
  statement {
    sid       = "Plugin"
    actions   = var.plugin_object_version == null ? ["s3:GetObject"] : ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [local.plugin_object_arn]
  }

  statement {
    sid       = "ArchiveBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.archive.arn]
  }

  statement {
    sid       = "ArchiveObjects"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.archive.arn}/${var.topics_dir}/*"]
  }

  statement {
    sid       = "ArchiveKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-connect"
  description        = "MSK Connect ${var.name}: archives its Kafka topics to s3://${local.bucket_name}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_policy" "this" {
  name        = "${var.name}-connect"
  description = "MSK Connect ${var.name}: read its topics, write the archive bucket"
  policy      = data.aws_iam_policy_document.connector.json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "this" {
  role       = aws_iam_role.this.name
  policy_arn = aws_iam_policy.this.arn
}

# MSK Connect ------------------------------------------------------------

resource "aws_mskconnect_custom_plugin" "s3_sink" {
  name         = "${var.name}-s3-sink"
  description  = "S3 sink connector plugin from s3://${trimprefix(local.plugin_object_arn, "arn:${local.partition}:s3:::")}"
  content_type = "ZIP"
  tags         = var.tags

  location {
    s3 {
      bucket_arn     = var.plugin_bucket_arn
      file_key       = var.plugin_file_key
      object_version = var.plugin_object_version
    }
  }
}

# Records are archived byte for byte: no converter interprets keys or
# values. Headers are UTF-8 text (CloudEvents Kafka binding), so the string
# converter keeps them as they are (the default SimpleHeaderConverter would
# parse "007" into 7). Supported properties: MSK developer guide, "Supported
# worker configuration properties".
resource "aws_mskconnect_worker_configuration" "this" {
  name        = "${var.name}-worker"
  description = "Byte-for-byte converters for ${var.name}"
  tags        = var.tags

  properties_file_content = <<-EOT
    key.converter=org.apache.kafka.connect.converters.ByteArrayConverter
    value.converter=org.apache.kafka.connect.converters.ByteArrayConverter
    header.converter=org.apache.kafka.connect.storage.StringConverter
    offset.flush.interval.ms=${var.offset_flush_interval_ms}
  EOT
}

resource "aws_mskconnect_connector" "this" {
  name                       = var.name
  description                = "Archives Kafka topics to s3://${local.bucket_name}"
  kafkaconnect_version       = var.kafkaconnect_version
  service_execution_role_arn = aws_iam_role.this.arn
  tags                       = var.tags

  # Confluent S3 sink (io.confluent.connect.s3.S3SinkConnector); properties
  # as documented at
  # https://docs.confluent.io/kafka-connectors/s3-sink/current/configuration_options.html
  # and defined in kafka-connect-storage-cloud's S3SinkConnectorConfig.
  connector_configuration = merge(
    {
      "connector.class" = "io.confluent.connect.s3.S3SinkConnector"
      "tasks.max"       = tostring(var.tasks_max)

      "storage.class"     = "io.confluent.connect.s3.storage.S3Storage"
      "s3.bucket.name"    = aws_s3_bucket.archive.bucket
      "s3.region"         = local.region
      "s3.ssea.name"      = "aws:kms"
      "s3.sse.kms.key.id" = aws_kms_key.this.arn
      "topics.dir"        = var.topics_dir

      "format.class"         = local.format_classes[var.output_format]
      "schema.compatibility" = "NONE"
      "store.kafka.headers"  = tostring(var.store_kafka_headers)
      "headers.format.class" = local.format_classes["avro"]
      "store.kafka.keys"     = tostring(var.store_kafka_keys)
      "keys.format.class"    = local.format_classes["avro"]
      # sluice writes no tombstones; a null value carries no event.
      "behavior.on.null.values" = "ignore"

      # Hourly Hive-style prefixes by the record's own timestamp, so a replay
      # of the same offsets writes the same objects (exactly once).
      "partitioner.class"     = "io.confluent.connect.storage.partitioner.TimeBasedPartitioner"
      "partition.duration.ms" = "3600000"
      "path.format"           = "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH"
      "locale"                = "en"
      "timezone"              = "UTC"
      "timestamp.extractor"   = "Record"
      "flush.size"            = tostring(var.flush_size)
      "rotate.interval.ms"    = tostring(var.rotate_interval_ms)

      # Kafka Connect error handling (KIP-298); payloads stay out of the logs.
      "errors.tolerance"            = var.errors_tolerance
      "errors.log.enable"           = "true"
      "errors.log.include.messages" = "false"
    },
    var.topics_regex == null ? { "topics" = join(",", local.archived_topics) } : { "topics.regex" = var.topics_regex },
    var.dlq_topic == null ? {} : {
      "errors.deadletterqueue.topic.name"               = var.dlq_topic
      "errors.deadletterqueue.topic.replication.factor" = tostring(var.dlq_replication_factor)
      "errors.deadletterqueue.context.headers.enable"   = "true"
    },
    var.rotate_schedule_interval_ms == null ? {} : { "rotate.schedule.interval.ms" = tostring(var.rotate_schedule_interval_ms) },
    local.compression,
  )

  capacity {
    autoscaling {
      mcu_count        = var.mcu_count
      min_worker_count = var.min_worker_count
      max_worker_count = var.max_worker_count

      scale_in_policy {
        cpu_utilization_percentage = var.scale_in_cpu_percent
      }

      scale_out_policy {
        cpu_utilization_percentage = var.scale_out_cpu_percent
      }
    }
  }

  kafka_cluster {
    apache_kafka_cluster {
      bootstrap_servers = var.bootstrap_servers

      vpc {
        subnets         = var.subnet_ids
        security_groups = var.security_group_ids
      }
    }
  }

  kafka_cluster_client_authentication {
    authentication_type = "IAM"
  }

  kafka_cluster_encryption_in_transit {
    encryption_type = "TLS"
  }

  plugin {
    custom_plugin {
      arn      = aws_mskconnect_custom_plugin.s3_sink.arn
      revision = aws_mskconnect_custom_plugin.s3_sink.latest_revision
    }
  }

  worker_configuration {
    arn      = aws_mskconnect_worker_configuration.this.arn
    revision = aws_mskconnect_worker_configuration.this.latest_revision
  }

  log_delivery {
    worker_log_delivery {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.this.name
      }
    }
  }

  # The role must hold its permissions, and the bucket its encryption and
  # policy, before the first worker starts.
  depends_on = [
    aws_iam_role_policy_attachment.this,
    aws_s3_bucket_server_side_encryption_configuration.archive,
    aws_s3_bucket_policy.archive,
  ]
}
