# Plans the module with the real AWS provider; nothing reaches AWS.

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

override_resource {
  target          = aws_cloudwatch_event_bus.this
  override_during = plan
  values          = { arn = "arn:aws:events:eu-west-1:123456789012:event-bus/bus" }
}

override_resource {
  target          = aws_sqs_queue.target_dlq
  override_during = plan
  values          = { arn = "arn:aws:sqs:eu-west-1:123456789012:bus-target-dlq", url = "https://sqs.eu-west-1.amazonaws.com/123456789012/bus-target-dlq" }
}

override_resource {
  target          = aws_cloudwatch_event_rule.by_type
  override_during = plan
  values          = { arn = "arn:aws:events:eu-west-1:123456789012:rule/bus/bus-typed" }
}

override_resource {
  target          = aws_cloudwatch_event_rule.scheduled
  override_during = plan
  values          = { arn = "arn:aws:events:eu-west-1:123456789012:rule/bus-nightly" }
}

override_resource {
  target          = aws_iam_role.start_executions
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:role/bus-start-executions" }
}

variables {
  bus_name    = "bus"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718"
  rules = {
    received = {
      detail_type = "email.received.v1"
      targets = {
        queue         = { kind = "sqs", arn = "arn:aws:sqs:eu-west-1:123456789012:work" }
        ordered       = { kind = "sqs", arn = "arn:aws:sqs:eu-west-1:123456789012:ordered.fifo", message_group_id = "received" }
        function      = { kind = "lambda", arn = "arn:aws:lambda:eu-west-1:123456789012:function:index" }
        state-machine = { kind = "step_functions", arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:flow" }
      }
    }
  }
  scheduled_rules = {
    nightly = {
      schedule_expression = "cron(0 3 * * ? *)"
      targets             = { queue = { kind = "sqs", arn = "arn:aws:sqs:eu-west-1:123456789012:batch" } }
    }
  }
}

run "targets_of_every_kind" {
  command = plan

  assert {
    condition     = length(aws_cloudwatch_event_target.this) == 5 && alltrue([for t in aws_cloudwatch_event_target.this : t.retry_policy[0].maximum_retry_attempts == 185 && t.retry_policy[0].maximum_event_age_in_seconds == 86400 && t.dead_letter_config[0].arn == "arn:aws:sqs:eu-west-1:123456789012:bus-target-dlq"])
    error_message = "Every target retries for a day, then dead-letters."
  }

  assert {
    condition     = aws_cloudwatch_event_target.this["received/ordered"].sqs_target[0].message_group_id == "received" && length(aws_cloudwatch_event_target.this["received/queue"].sqs_target) == 0
    error_message = "Only FIFO queue targets carry a message group."
  }

  assert {
    condition     = aws_cloudwatch_event_target.this["received/state-machine"].role_arn == "arn:aws:iam::123456789012:role/bus-start-executions" && aws_cloudwatch_event_target.this["received/queue"].role_arn == null
    error_message = "Step Functions targets start executions through the module's role."
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.start_executions[0].policy).Statement[0].Action == "states:StartExecution" && jsondecode(aws_iam_role_policy.start_executions[0].policy).Statement[0].Resource == "arn:aws:states:eu-west-1:123456789012:stateMachine:flow"
    error_message = "The role may start exactly the target state machines."
  }

  assert {
    condition     = aws_lambda_permission.rules["received/function"].source_arn == "arn:aws:events:eu-west-1:123456789012:rule/bus/bus-typed" && aws_lambda_permission.rules["received/function"].principal == "events.amazonaws.com"
    error_message = "The function may be invoked by its rule only."
  }

  assert {
    condition     = aws_cloudwatch_event_bus.this.dead_letter_config[0].arn == "arn:aws:sqs:eu-west-1:123456789012:bus-target-dlq" && aws_cloudwatch_event_bus.this.kms_key_identifier == var.kms_key_arn
    error_message = "The encrypted bus dead-letters what it cannot deliver."
  }

  assert {
    condition     = toset(jsondecode(aws_sqs_queue_policy.target_dlq.policy).Statement[0].Condition.ArnEquals["aws:SourceArn"]) == toset(["arn:aws:events:eu-west-1:123456789012:rule/bus/bus-typed", "arn:aws:events:eu-west-1:123456789012:rule/bus-nightly", "arn:aws:events:eu-west-1:123456789012:event-bus/bus"])
    error_message = "Only the module's rules and bus may dead-letter into the queue."
  }

  assert {
    condition     = aws_cloudwatch_event_target.this["nightly/queue"].event_bus_name == "default" && aws_cloudwatch_event_target.this["received/queue"].event_bus_name == "bus"
    error_message = "Scheduled rules run on the default bus, typed rules on the module's bus."
  }
}

run "refuses_a_fifo_target_without_group" {
  command = plan

  variables {
    rules = {
      received = {
        detail_type = "email.received.v1"
        targets     = { ordered = { kind = "sqs", arn = "arn:aws:sqs:eu-west-1:123456789012:ordered.fifo" } }
      }
    }
  }

  expect_failures = [var.rules]
}

run "refuses_a_target_of_the_wrong_kind" {
  command = plan

  variables {
    rules = {
      received = {
        detail_type = "email.received.v1"
        targets     = { function = { kind = "lambda", arn = "arn:aws:sqs:eu-west-1:123456789012:work" } }
      }
    }
  }

  expect_failures = [var.rules]
}
