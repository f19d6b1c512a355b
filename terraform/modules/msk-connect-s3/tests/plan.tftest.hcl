# Plans the module with the real AWS provider and no AWS calls: credentials
# are fake, account lookups are skipped, the caller identity is overridden and
# the computed ARNs the policies are built from are fixed during the plan.
# Run from the module directory: terraform init -backend=false && terraform test

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

override_data {
  target = data.aws_caller_identity.current
  values = {
    account_id = "123456789012"
    arn        = "arn:aws:iam::123456789012:user/terraform"
    user_id    = "AIDAEXAMPLE"
  }
}

override_resource {
  target          = aws_kms_key.this
  override_during = plan
  values = {
    arn    = "arn:aws:kms:eu-west-1:123456789012:key/0f4c2a8e-1111-2222-3333-444455556666"
    key_id = "0f4c2a8e-1111-2222-3333-444455556666"
  }
}

override_resource {
  target          = aws_s3_bucket.archive
  override_during = plan
  values = {
    arn = "arn:aws:s3:::sluice-archive-123456789012"
    id  = "sluice-archive-123456789012"
  }
}

override_resource {
  target          = aws_iam_role.this
  override_during = plan
  values = {
    arn = "arn:aws:iam::123456789012:role/sluice-archive-connect"
  }
}

override_resource {
  target          = aws_iam_policy.this
  override_during = plan
  values = {
    arn = "arn:aws:iam::123456789012:policy/sluice-archive-connect"
  }
}

override_resource {
  target          = aws_cloudwatch_log_group.this
  override_during = plan
  values = {
    arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/kafkaconnect/sluice-archive"
  }
}

override_resource {
  target          = aws_mskconnect_custom_plugin.s3_sink
  override_during = plan
  values = {
    arn             = "arn:aws:kafkaconnect:eu-west-1:123456789012:custom-plugin/sluice-archive-s3-sink/1a2b3c4d-0000-1111-2222-333344445555-2"
    latest_revision = 1
  }
}

override_resource {
  target          = aws_mskconnect_worker_configuration.this
  override_during = plan
  values = {
    arn             = "arn:aws:kafkaconnect:eu-west-1:123456789012:worker-configuration/sluice-archive-worker/5e6f7a8b-0000-1111-2222-333344445555-2"
    latest_revision = 1
  }
}

variables {
  name               = "sluice-archive"
  cluster_arn        = "arn:aws:kafka:eu-west-1:123456789012:cluster/sluice/7d3e5f10-aaaa-bbbb-cccc-ddddeeeeffff-2"
  bootstrap_servers  = "b-1.sluice.x1y2z3.c2.kafka.eu-west-1.amazonaws.com:9098,b-2.sluice.x1y2z3.c2.kafka.eu-west-1.amazonaws.com:9098,b-3.sluice.x1y2z3.c2.kafka.eu-west-1.amazonaws.com:9098"
  subnet_ids         = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"]
  security_group_ids = ["sg-0123456789abcdef0"]
  topics             = ["email.received", "email.validated", "email.processed", "plugin.executed", "workflow.triggered"]
  plugin_bucket_arn  = "arn:aws:s3:::sluice-artifacts-123456789012"
  plugin_file_key    = "plugins/confluentinc-kafka-connect-s3-10.5.13.zip"
  tags = {
    project = "sluice"
    env     = "test"
  }
}

run "archives_listed_topics_byte_for_byte" {
  command = plan

  assert {
    condition     = aws_mskconnect_connector.this.kafka_cluster_client_authentication[0].authentication_type == "IAM"
    error_message = "The connector authenticates to MSK with IAM."
  }

  assert {
    condition     = aws_mskconnect_connector.this.kafka_cluster_encryption_in_transit[0].encryption_type == "TLS"
    error_message = "Traffic to the brokers is TLS."
  }

  assert {
    condition = alltrue([
      strcontains(aws_mskconnect_worker_configuration.this.properties_file_content, "key.converter=org.apache.kafka.connect.converters.ByteArrayConverter"),
      strcontains(aws_mskconnect_worker_configuration.this.properties_file_content, "value.converter=org.apache.kafka.connect.converters.ByteArrayConverter"),
      strcontains(aws_mskconnect_worker_configuration.this.properties_file_content, "offset.flush.interval.ms=60000"),
    ])
    error_message = "Keys and values pass through ByteArrayConverter; offsets flush every minute."
  }

  assert {
    condition     = aws_mskconnect_connector.this.connector_configuration["topics"] == "email.received,email.validated,email.processed,plugin.executed,workflow.triggered"
    error_message = "The connector reads exactly the listed topics."
  }

  assert {
    condition     = !contains(keys(aws_mskconnect_connector.this.connector_configuration), "topics.regex")
    error_message = "List mode sets no topics.regex."
  }

  assert {
    condition = alltrue([
      aws_mskconnect_connector.this.connector_configuration["connector.class"] == "io.confluent.connect.s3.S3SinkConnector",
      aws_mskconnect_connector.this.connector_configuration["format.class"] == "io.confluent.connect.s3.format.avro.AvroFormat",
      aws_mskconnect_connector.this.connector_configuration["partitioner.class"] == "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
      aws_mskconnect_connector.this.connector_configuration["path.format"] == "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH",
      aws_mskconnect_connector.this.connector_configuration["timestamp.extractor"] == "Record",
      aws_mskconnect_connector.this.connector_configuration["store.kafka.headers"] == "true",
      aws_mskconnect_connector.this.connector_configuration["flush.size"] == "10000",
      aws_mskconnect_connector.this.connector_configuration["rotate.interval.ms"] == "600000",
      aws_mskconnect_connector.this.connector_configuration["s3.region"] == "eu-west-1",
    ])
    error_message = "Confluent S3 sink, Avro objects with headers beside them, hourly prefixes by record time."
  }

  assert {
    condition = alltrue([
      aws_mskconnect_connector.this.connector_configuration["s3.bucket.name"] == "sluice-archive-123456789012",
      aws_mskconnect_connector.this.connector_configuration["s3.ssea.name"] == "aws:kms",
      aws_mskconnect_connector.this.connector_configuration["s3.sse.kms.key.id"] == aws_kms_key.this.arn,
    ])
    error_message = "The sink writes to the archive bucket with SSE-KMS under the archive key."
  }

  assert {
    condition = alltrue([
      aws_mskconnect_connector.this.connector_configuration["errors.tolerance"] == "none",
      !contains(keys(aws_mskconnect_connector.this.connector_configuration), "errors.deadletterqueue.topic.name"),
      aws_mskconnect_connector.this.connector_configuration["errors.log.include.messages"] == "false",
    ])
    error_message = "By default a record that cannot be written stops the task, and payloads stay out of the logs."
  }

  assert {
    condition = alltrue([
      aws_mskconnect_connector.this.capacity[0].autoscaling[0].mcu_count == 1,
      aws_mskconnect_connector.this.capacity[0].autoscaling[0].min_worker_count == 1,
      aws_mskconnect_connector.this.capacity[0].autoscaling[0].max_worker_count == 2,
      aws_mskconnect_connector.this.capacity[0].autoscaling[0].scale_in_policy[0].cpu_utilization_percentage == 20,
      aws_mskconnect_connector.this.capacity[0].autoscaling[0].scale_out_policy[0].cpu_utilization_percentage == 80,
    ])
    error_message = "Autoscaling capacity comes from the inputs."
  }

  assert {
    condition = alltrue([
      aws_mskconnect_custom_plugin.s3_sink.content_type == "ZIP",
      aws_mskconnect_custom_plugin.s3_sink.location[0].s3[0].bucket_arn == "arn:aws:s3:::sluice-artifacts-123456789012",
      aws_mskconnect_custom_plugin.s3_sink.location[0].s3[0].file_key == "plugins/confluentinc-kafka-connect-s3-10.5.13.zip",
    ])
    error_message = "The plugin is the given ZIP."
  }

  assert {
    condition = alltrue([
      aws_mskconnect_connector.this.log_delivery[0].worker_log_delivery[0].cloudwatch_logs[0].enabled,
      aws_mskconnect_connector.this.log_delivery[0].worker_log_delivery[0].cloudwatch_logs[0].log_group == "/aws/vendedlogs/kafkaconnect/sluice-archive",
      aws_cloudwatch_log_group.this.kms_key_id == aws_kms_key.this.arn,
      aws_cloudwatch_log_group.this.retention_in_days == 365,
    ])
    error_message = "Worker logs go to a KMS-encrypted log group kept a year."
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "The archive key rotates."
  }

  assert {
    condition = alltrue([
      one(aws_s3_bucket_server_side_encryption_configuration.archive.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms",
      one(aws_s3_bucket_server_side_encryption_configuration.archive.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == aws_kms_key.this.arn,
      one(aws_s3_bucket_server_side_encryption_configuration.archive.rule).bucket_key_enabled,
    ])
    error_message = "Default encryption is SSE-KMS with the archive key and a bucket key."
  }

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.archive.block_public_acls,
      aws_s3_bucket_public_access_block.archive.block_public_policy,
      aws_s3_bucket_public_access_block.archive.ignore_public_acls,
      aws_s3_bucket_public_access_block.archive.restrict_public_buckets,
      aws_s3_bucket_ownership_controls.archive.rule[0].object_ownership == "BucketOwnerEnforced",
      aws_s3_bucket_versioning.archive.versioning_configuration[0].status == "Enabled",
    ])
    error_message = "The bucket is private, ACL-free and versioned."
  }

  assert {
    condition = alltrue([
      aws_s3_bucket_lifecycle_configuration.archive.rule[0].status == "Enabled",
      one(aws_s3_bucket_lifecycle_configuration.archive.rule[0].transition).days == 90,
      one(aws_s3_bucket_lifecycle_configuration.archive.rule[0].transition).storage_class == "GLACIER",
      aws_s3_bucket_lifecycle_configuration.archive.rule[0].expiration[0].days == 2557,
      aws_s3_bucket_lifecycle_configuration.archive.rule[0].noncurrent_version_expiration[0].noncurrent_days == 30,
      aws_s3_bucket_lifecycle_configuration.archive.rule[0].abort_incomplete_multipart_upload[0].days_after_initiation == 7,
    ])
    error_message = "Objects move to Glacier after 90 days and expire after 7 years; old versions and dead uploads are cleaned up."
  }

  assert {
    condition     = length(aws_s3_bucket_logging.archive) == 0
    error_message = "No access logging without a target bucket."
  }

  # Policy documents that name resources being created are read at apply;
  # their planned arguments are known and asserted on here.
  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.bucket.statement :
      s.effect == "Deny" && contains(s.actions, "s3:*") &&
      sort(s.resources) == sort(["arn:aws:s3:::sluice-archive-123456789012", "arn:aws:s3:::sluice-archive-123456789012/*"]) &&
      anytrue([for c in s.condition : c.test == "Bool" && c.variable == "aws:SecureTransport" && toset(c.values) == toset(["false"])])
    ])
    error_message = "The bucket policy refuses requests without TLS."
  }

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.bucket.statement :
      s.effect == "Deny" && toset(s.actions) == toset(["s3:PutObject"]) &&
      anytrue([for c in s.condition : c.test == "StringNotEqualsIfExists" && c.variable == "s3:x-amz-server-side-encryption-aws-kms-key-id" && toset(c.values) == toset([aws_kms_key.this.arn])])
    ])
    error_message = "The bucket policy refuses objects encrypted with another key."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role.this.assume_role_policy).Statement :
      s.Principal.Service == "kafkaconnect.amazonaws.com" &&
      s.Condition.StringEquals["aws:SourceAccount"] == "123456789012" &&
      s.Condition.ArnLike["aws:SourceArn"] == "arn:aws:kafkaconnect:eu-west-1:123456789012:connector/sluice-archive/*"
    ])
    error_message = "Only MSK Connect, for this account's connector of this name, assumes the role."
  }

  assert {
    condition = (
      sort(flatten([for s in data.aws_iam_policy_document.connector.statement : tolist(s.resources) if s.sid == "ReadTopics"])) ==
      sort([for t in var.topics : "arn:aws:kafka:eu-west-1:123456789012:topic/sluice/7d3e5f10-aaaa-bbbb-cccc-ddddeeeeffff-2/${t}"])
    )
    error_message = "The role reads exactly the archived topics."
  }

  assert {
    condition = (
      flatten([for s in data.aws_iam_policy_document.connector.statement : tolist(s.resources) if s.sid == "ConsumerGroup"]) ==
      ["arn:aws:kafka:eu-west-1:123456789012:group/sluice/7d3e5f10-aaaa-bbbb-cccc-ddddeeeeffff-2/connect-sluice-archive"]
    )
    error_message = "The role joins only the sink's own consumer group, connect-<name>."
  }

  assert {
    condition = (
      flatten([for s in data.aws_iam_policy_document.connector.statement : tolist(s.resources) if s.sid == "InternalTopics"]) ==
      ["arn:aws:kafka:eu-west-1:123456789012:topic/sluice/7d3e5f10-aaaa-bbbb-cccc-ddddeeeeffff-2/__amazon_msk_connect_*_sluice-archive_*"]
    )
    error_message = "Internal topics are limited to this connector's."
  }

  assert {
    condition = (
      flatten([for s in data.aws_iam_policy_document.connector.statement : tolist(s.resources) if s.sid == "ArchiveObjects"]) ==
      ["arn:aws:s3:::sluice-archive-123456789012/topics/*"]
    )
    error_message = "The role writes objects only under the archive prefix."
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.connector.statement :
      alltrue([for r in s.resources : r != "*"]) && alltrue([for a in s.actions : !endswith(a, "*")])
    ])
    error_message = "No wildcard action or resource in the role's policy."
  }

  assert {
    condition = length([for s in data.aws_iam_policy_document.connector.statement : s if contains(s.actions, "kms:Decrypt")]) == 1 && alltrue([
      for s in data.aws_iam_policy_document.connector.statement :
      toset(s.resources) == toset([aws_kms_key.this.arn]) &&
      toset(s.actions) == toset(["kms:Decrypt", "kms:GenerateDataKey"]) &&
      anytrue([for c in s.condition : c.variable == "kms:ViaService" && toset(c.values) == toset(["s3.eu-west-1.amazonaws.com"])])
      if contains(s.actions, "kms:Decrypt")
    ])
    error_message = "KMS use is limited to the archive key, through S3."
  }

  assert {
    condition = !anytrue([
      for s in data.aws_iam_policy_document.connector.statement :
      contains(s.actions, "kafka-cluster:WriteDataIdempotently")
    ])
    error_message = "Kafka Connect 2.7.1 does not need idempotent writes."
  }

  assert {
    condition     = !anytrue([for s in data.aws_iam_policy_document.connector.statement : s.sid == "DeadLetters"])
    error_message = "No dead-letter topic, no write permission."
  }
}

run "regex_topics_dead_letters_and_logging" {
  command = plan

  variables {
    topics               = []
    topics_regex         = "(email|plugin|workflow)\\..*"
    topic_name_patterns  = ["email.*", "plugin.*", "workflow.*"]
    errors_tolerance     = "all"
    dlq_topic            = "sluice-archive.dlq"
    kafkaconnect_version = "3.7.x"
    output_format        = "json"
    access_log_bucket    = "sluice-access-logs-123456789012"
    store_kafka_keys     = true
  }

  assert {
    condition = alltrue([
      aws_mskconnect_connector.this.connector_configuration["topics.regex"] == "(email|plugin|workflow)\\..*",
      !contains(keys(aws_mskconnect_connector.this.connector_configuration), "topics"),
    ])
    error_message = "Regex mode sets topics.regex and no topics list."
  }

  assert {
    condition = alltrue([
      aws_mskconnect_connector.this.connector_configuration["errors.tolerance"] == "all",
      aws_mskconnect_connector.this.connector_configuration["errors.deadletterqueue.topic.name"] == "sluice-archive.dlq",
      aws_mskconnect_connector.this.connector_configuration["errors.deadletterqueue.context.headers.enable"] == "true",
    ])
    error_message = "Errant records go to the dead-letter topic with their reason."
  }

  assert {
    condition = alltrue([
      aws_mskconnect_connector.this.connector_configuration["format.class"] == "io.confluent.connect.s3.format.json.JsonFormat",
      aws_mskconnect_connector.this.connector_configuration["s3.compression.type"] == "gzip",
      aws_mskconnect_connector.this.connector_configuration["store.kafka.keys"] == "true",
    ])
    error_message = "JSON objects are gzipped; keys are stored when asked."
  }

  assert {
    condition = (
      sort(flatten([for s in data.aws_iam_policy_document.connector.statement : tolist(s.resources) if s.sid == "ReadTopics"])) ==
      sort([for p in ["email.*", "plugin.*", "workflow.*"] : "arn:aws:kafka:eu-west-1:123456789012:topic/sluice/7d3e5f10-aaaa-bbbb-cccc-ddddeeeeffff-2/${p}"])
    )
    error_message = "In regex mode the role reads the topics the patterns name."
  }

  assert {
    condition = (
      flatten([for s in data.aws_iam_policy_document.connector.statement : tolist(s.resources) if s.sid == "DeadLetters"]) ==
      ["arn:aws:kafka:eu-west-1:123456789012:topic/sluice/7d3e5f10-aaaa-bbbb-cccc-ddddeeeeffff-2/sluice-archive.dlq"]
    )
    error_message = "The role writes only its dead-letter topic."
  }

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.connector.statement :
      contains(s.actions, "kafka-cluster:WriteDataIdempotently") if s.sid == "Cluster"
    ])
    error_message = "Kafka Connect 3.7 clients write idempotently and need the permission."
  }

  assert {
    condition = alltrue([
      length(aws_s3_bucket_logging.archive) == 1,
      aws_s3_bucket_logging.archive[0].target_bucket == "sluice-access-logs-123456789012",
    ])
    error_message = "Access logs go to the given bucket."
  }
}

run "dead_letters_of_the_listed_topics" {
  command = plan

  variables {
    archive_dead_letter_topics = true
  }

  assert {
    condition     = length(split(",", aws_mskconnect_connector.this.connector_configuration["topics"])) == 10 && contains(split(",", aws_mskconnect_connector.this.connector_configuration["topics"]), "email.received.dlq")
    error_message = "Each listed topic's <topic>.dlq is archived too."
  }
}

run "refuses_both_a_list_and_a_regex" {
  command = plan

  variables {
    topics_regex        = "email\\..*"
    topic_name_patterns = ["email.*"]
  }

  expect_failures = [var.topics]
}

run "refuses_a_regex_without_iam_patterns" {
  command = plan

  variables {
    topics       = []
    topics_regex = "email\\..*"
  }

  expect_failures = [var.topic_name_patterns]
}

run "refuses_tolerating_errors_without_a_dlq" {
  command = plan

  variables {
    errors_tolerance = "all"
  }

  expect_failures = [var.errors_tolerance]
}

run "refuses_archiving_its_own_dlq" {
  command = plan

  variables {
    errors_tolerance = "all"
    dlq_topic        = "email.received"
  }

  expect_failures = [var.dlq_topic]
}

run "refuses_parquet_of_raw_bytes" {
  command = plan

  variables {
    output_format = "parquet"
  }

  expect_failures = [var.output_format]
}

run "refuses_a_non_iam_listener" {
  command = plan

  variables {
    bootstrap_servers = "b-1.sluice.x1y2z3.c2.kafka.eu-west-1.amazonaws.com:9092"
  }

  expect_failures = [var.bootstrap_servers]
}

run "refuses_inverted_autoscaling" {
  command = plan

  variables {
    min_worker_count = 4
    max_worker_count = 2
  }

  expect_failures = [var.max_worker_count]
}

run "refuses_expiry_before_the_glacier_transition" {
  command = plan

  variables {
    glacier_transition_days = 365
    expiration_days         = 180
  }

  expect_failures = [var.expiration_days]
}
