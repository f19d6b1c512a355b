# Plans the module with the real AWS provider; nothing reaches AWS.

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

override_resource {
  target          = aws_sqs_queue.this
  override_during = plan
  values          = { arn = "arn:aws:sqs:eu-west-1:123456789012:work", url = "https://sqs.eu-west-1.amazonaws.com/123456789012/work" }
}

override_resource {
  target          = aws_sqs_queue.dlq
  override_during = plan
  values          = { arn = "arn:aws:sqs:eu-west-1:123456789012:work-dlq", url = "https://sqs.eu-west-1.amazonaws.com/123456789012/work-dlq" }
}

variables {
  name                     = "work"
  kms_key_arn              = "arn:aws:kms:eu-west-1:123456789012:key/1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718"
  allowed_source_arns      = ["arn:aws:events:eu-west-1:123456789012:rule/bus/bus-rule"]
  allowed_sender_role_arns = ["arn:aws:iam::123456789012:role/sluice-bridge"]
}

run "standard_queue" {
  command = plan

  assert {
    condition     = jsondecode(aws_sqs_queue.this.redrive_policy).deadLetterTargetArn == "arn:aws:sqs:eu-west-1:123456789012:work-dlq" && jsondecode(aws_sqs_queue.this.redrive_policy).maxReceiveCount == 5
    error_message = "Messages received 5 times move to the queue's own DLQ."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_allow_policy.dlq.redrive_allow_policy) == { redrivePermission = "byQueue", sourceQueueArns = ["arn:aws:sqs:eu-west-1:123456789012:work"] }
    error_message = "Only this queue may use the DLQ."
  }

  assert {
    condition     = aws_sqs_queue.this.kms_master_key_id == var.kms_key_arn && aws_sqs_queue.dlq.kms_master_key_id == var.kms_key_arn
    error_message = "Both queues are encrypted with the customer-managed key."
  }

  assert {
    condition     = aws_sqs_queue.this.max_message_size == 262144 && aws_sqs_queue.dlq.max_message_size == 262144 && aws_sqs_queue.dlq.message_retention_seconds == 1209600
    error_message = "The DLQ takes every message the queue takes and keeps it 14 days."
  }

  assert {
    condition = anytrue([for s in jsondecode(aws_sqs_queue_policy.this.policy).Statement :
    try(s.Effect == "Deny" && s.Action == "sqs:*" && s.Condition.Bool["aws:SecureTransport"] == "false", false)])
    error_message = "The queue refuses requests without TLS."
  }

  assert {
    condition = anytrue([for s in jsondecode(aws_sqs_queue_policy.this.policy).Statement :
    try(s.Effect == "Allow" && s.Principal == { Service = "events.amazonaws.com" } && s.Condition.ArnEquals["aws:SourceArn"] == ["arn:aws:events:eu-west-1:123456789012:rule/bus/bus-rule"], false)])
    error_message = "EventBridge may send only on behalf of the named rules."
  }

  assert {
    condition     = aws_sqs_queue_policy.this.queue_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/work"
    error_message = "The policy is the queue's."
  }
}

run "fifo_queue_fed_by_eventbridge_deduplicates_by_content" {
  command = plan

  variables {
    fifo                        = true
    content_based_deduplication = true
  }

  assert {
    condition     = aws_sqs_queue.this.name == "work.fifo" && aws_sqs_queue.dlq.name == "work-dlq.fifo" && aws_sqs_queue.this.content_based_deduplication
    error_message = "A FIFO queue with a FIFO DLQ, deduplicating by content."
  }
}

# EventBridge sends no deduplication id: without content-based
# deduplication the queue would refuse every event.
run "refuses_a_fifo_eventbridge_target_without_deduplication" {
  command = plan

  variables {
    fifo = true
  }

  expect_failures = [var.content_based_deduplication]
}

run "refuses_messages_the_provider_cannot_set" {
  command = plan

  variables {
    max_message_size = 1048576
  }

  expect_failures = [var.max_message_size]
}
