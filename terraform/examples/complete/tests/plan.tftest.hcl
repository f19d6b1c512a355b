# Plans the complete example with the real AWS provider and asserts what a
# sluice deployment relies on. Nothing reaches AWS: the credentials are fake,
# the data sources that would call AWS are overridden, and so are the
# computed ARNs the assertions need to see.

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
  values = { account_id = "123456789012" }
}

override_data {
  target = module.msk.data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

override_data {
  target = module.iam.data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

override_data {
  target = module.eventbridge.data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

override_data {
  target = module.archive[0].data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

override_data {
  target = module.msk.data.aws_vpc.this
  values = { cidr_block = "10.0.0.0/16" }
}

override_resource {
  target          = module.msk.aws_msk_cluster.this
  override_during = plan
  values = {
    arn                        = "arn:aws:kafka:eu-west-1:123456789012:cluster/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3"
    bootstrap_brokers_sasl_iam = "b-1.sluice.a1b2c3.c3.kafka.eu-west-1.amazonaws.com:9098,b-2.sluice.a1b2c3.c3.kafka.eu-west-1.amazonaws.com:9098,b-3.sluice.a1b2c3.c3.kafka.eu-west-1.amazonaws.com:9098"
  }
}

override_resource {
  target          = aws_kms_key.data
  override_during = plan
  values          = { arn = "arn:aws:kms:eu-west-1:123456789012:key/1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718" }
}

override_resource {
  target          = module.queues["notifications"].aws_sqs_queue.this
  override_during = plan
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:sluice-notifications.fifo"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/sluice-notifications.fifo"
  }
}

override_resource {
  target          = module.queues["plugin_execution"].aws_sqs_queue.this
  override_during = plan
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:sluice-plugin-execution"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/sluice-plugin-execution"
  }
}

override_resource {
  target          = module.queues["email_processing"].aws_sqs_queue.this
  override_during = plan
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:sluice-email-processing"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/sluice-email-processing"
  }
}

override_resource {
  target          = module.queues["workflow_execution"].aws_sqs_queue.this
  override_during = plan
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:sluice-workflow-execution"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/sluice-workflow-execution"
  }
}

override_resource {
  target          = module.queues["batch_operations"].aws_sqs_queue.this
  override_during = plan
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:sluice-batch-operations"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/sluice-batch-operations"
  }
}

override_resource {
  target          = module.eventbridge.aws_cloudwatch_event_bus.this
  override_during = plan
  values          = { arn = "arn:aws:events:eu-west-1:123456789012:event-bus/sluice-events" }
}

variables {
  vpc_id                  = "vpc-0123abcd"
  private_subnet_ids      = ["subnet-0a", "subnet-0b", "subnet-0c"]
  client_cidr_blocks      = ["10.0.0.0/16"]
  monitoring_cidr_blocks  = ["10.9.0.0/24"]
  lambda_targets          = { email_processed = "arn:aws:lambda:eu-west-1:123456789012:function:index-emails" }
  state_machine_targets   = { workflow_triggered = "arn:aws:states:eu-west-1:123456789012:stateMachine:workflows" }
  private_route_table_ids = ["rtb-0a", "rtb-0b", "rtb-0c"]
  archive_plugin          = { bucket_arn = "arn:aws:s3:::sluice-plugins", file_key = "confluentinc-kafka-connect-s3-10.6.5.zip" }
}

run "plan" {
  command = plan

  # The bridge joins one group per route, sluice-bridge.<route>: exactly
  # those may be altered, nothing else.
  assert {
    condition     = toset(flatten([for s in jsondecode(output.policy_documents["bridge"]).Statement : s.Resource if s.Sid == "Groups"])) == toset(["arn:aws:kafka:eu-west-1:123456789012:group/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/sluice-bridge.events-to-bus", "arn:aws:kafka:eu-west-1:123456789012:group/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/sluice-bridge.processed-to-notifications"])
    error_message = "The bridge may join exactly its routes' groups."
  }

  # A pattern becomes an IAM prefix; DLQ templates are applied per topic.
  assert {
    condition     = contains(flatten([for s in jsondecode(output.policy_documents["bridge"]).Statement : s.Resource if s.Sid == "ReadTopics"]), "arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/workflow.triggered") && contains(flatten([for s in jsondecode(output.policy_documents["bridge"]).Statement : s.Resource if s.Sid == "ReadTopics"]), "arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/email.received")
    error_message = "The bridge reads its named topics."
  }

  assert {
    condition     = toset(flatten([for s in jsondecode(output.policy_documents["bridge"]).Statement : s.Resource if s.Sid == "WriteTopics"])) == toset(["arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/email.received.dlq", "arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/email.validated.dlq", "arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/email.processed.dlq", "arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/plugin.executed.dlq", "arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/workflow.triggered.dlq", "arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/email.processed.notifications.dlq"])
    error_message = "The bridge writes only its routes' DLQ topics."
  }

  assert {
    condition     = toset(flatten([for s in jsondecode(output.policy_documents["bridge"]).Statement : s.Action if s.Sid == "ReadTopics"])) == toset(["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]) && toset(flatten([for s in jsondecode(output.policy_documents["bridge"]).Statement : s.Action if s.Sid == "Groups"])) == toset(["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"])
    error_message = "Reading needs DescribeTopic and ReadData, groups AlterGroup and DescribeGroup, nothing more."
  }

  # The producer writes its topics and reads nothing.
  assert {
    condition     = length(flatten([for s in jsondecode(output.policy_documents["producer"]).Statement : s.Resource if s.Sid == "ReadTopics"])) == 0 && length(flatten([for s in jsondecode(output.policy_documents["producer"]).Statement : s.Resource if s.Sid == "Groups"])) == 0 && length(flatten([for s in jsondecode(output.policy_documents["producer"]).Statement : s.Resource if s.Sid == "WriteTopics"])) == 5
    error_message = "The producer writes its five topics and reads none."
  }

  assert {
    condition     = toset(flatten([for s in jsondecode(output.policy_documents["workers"]).Statement : s.Resource if s.Sid == "Groups"])) == toset(["arn:aws:kafka:eu-west-1:123456789012:group/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/sluice-workers"])
    error_message = "The workers join their one group."
  }

  # No service reads a DLQ it writes: a read prefix covering a dead-letter
  # topic would feed dead letters back into the service.
  assert {
    condition = alltrue(flatten([for doc in values(output.policy_documents) : [
      for read in flatten([for s in jsondecode(doc).Statement : s.Resource if s.Sid == "ReadTopics"]) : [
        for write in flatten([for s in jsondecode(doc).Statement : s.Resource if s.Sid == "WriteTopics"]) :
        read != write && !(endswith(read, "*") && startswith(write, trimsuffix(read, "*")))
      ]
    ]]))
    error_message = "A service may read one of its own dead-letter topics."
  }

  # No statement of any service grants a wildcard action or resource.
  assert {
    condition = alltrue(flatten([for doc in values(output.policy_documents) : [
      for s in jsondecode(doc).Statement : [
        for r in flatten([s.Resource]) : r != "*"
      ]
    ]]))
    error_message = "No policy grants the resource *."
  }

  assert {
    condition = alltrue(flatten([for doc in values(output.policy_documents) : [
      for s in jsondecode(doc).Statement : [
        for a in flatten([s.Action]) : !endswith(a, "*")
      ]
    ]]))
    error_message = "No policy grants a wildcard action."
  }

  # One lag alarm per group the services really run, the archive's sink too.
  assert {
    condition     = toset(output.consumer_groups) == toset(["sluice-workers", "sluice-bridge.events-to-bus", "sluice-bridge.processed-to-notifications", "connect-sluice-archive"])
    error_message = "The consumer groups are the workers', one per bridge route and the archive's."
  }

  # The workers' group, created in the same apply, reaches the brokers.
  assert {
    condition     = output.archive_bucket == "sluice-archive-123456789012" && length(module.msk) > 0
    error_message = "The topics are archived to the deployment's bucket."
  }

  assert {
    condition     = alltrue([for g in output.consumer_groups : contains(output.alarm_names, "sluice-lag-${g}")])
    error_message = "Every consumer group has a lag alarm."
  }

  assert {
    condition     = alltrue([for a in ["sluice-msk-active-controller", "sluice-msk-offline-partitions", "sluice-msk-under-min-isr", "sluice-msk-under-replicated", "sluice-cpu-broker-1", "sluice-disk-broker-3", "sluice-eventbridge-failed-email_processed", "sluice-eventbridge-throttled-workflow_triggered"] : contains(output.alarm_names, a)])
    error_message = "MSK health, broker CPU and disk, and EventBridge delivery alarms exist."
  }

  # The bridge configuration names the bus and the FIFO queue, grouped by
  # tenant (EventBridge could only give the queue one fixed group).
  assert {
    condition     = strcontains(output.bridge_config, "eventbridge = { event_bus = \"sluice-events\" }") && strcontains(output.bridge_config, "message_group = { field = \"metadata.tenantId\" }")
    error_message = "The bridge sends to the bus, and to notifications grouped by tenant."
  }

  assert {
    condition     = strcontains(output.bridge_config, "bootstrap_servers = \"b-1.sluice.a1b2c3.c3.kafka.eu-west-1.amazonaws.com:9098,")
    error_message = "The bridge connects to the cluster's IAM brokers."
  }

  # The bridge's Kubernetes configuration is this output, so it runs in
  # exactly the groups its role may join.
  assert {
    condition     = output.bridge_config == file("${path.module}/../../../deploy/k8s/bridge/bridge.toml")
    error_message = "deploy/k8s/bridge/bridge.toml is not what bridge_config renders:\n${output.bridge_config}"
  }

  assert {
    condition     = keys(output.dlq_urls) == keys(output.queue_urls)
    error_message = "Every work queue has a dead-letter queue."
  }
}
