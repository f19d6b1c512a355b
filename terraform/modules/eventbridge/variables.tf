variable "bus_name" {
  description = "Name of the custom event bus the bridge publishes to."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,256}$", var.bus_name)) && var.bus_name != "default"
    error_message = "Letters, digits, dots, hyphens and underscores; not \"default\"."
  }
}

variable "rules" {
  description = "One rule per event type on the bus: the CloudEvents type it matches (detail-type) and its targets, by target id. A target is an SQS queue (kind sqs), a Lambda function (lambda) or a Step Functions state machine (step_functions). EventBridge sends FIFO queues one fixed message_group_id per target: for order per key, let the bridge send to the queue instead."
  type = map(object({
    detail_type = string
    targets = map(object({
      kind             = string
      arn              = string
      message_group_id = optional(string)
    }))
  }))

  validation {
    condition     = alltrue([for r in values(var.rules) : length(r.targets) >= 1 && length(r.targets) <= 5])
    error_message = "Every rule has 1 to 5 targets (EventBridge's limit)."
  }

  validation {
    condition     = alltrue(flatten([for r in values(var.rules) : [for t in values(r.targets) : contains(keys(local.target_arn_patterns), t.kind) && can(regex(lookup(local.target_arn_patterns, t.kind, "^$"), t.arn))]]))
    error_message = "A target's kind is sqs, lambda or step_functions, and its arn is a queue, function or state machine ARN of that kind."
  }

  validation {
    condition     = alltrue(flatten([for r in values(var.rules) : [for t in values(r.targets) : (t.kind == "sqs" && endswith(t.arn, ".fifo")) == (t.message_group_id != null)]]))
    error_message = "FIFO queues (ARN ending in .fifo) need a message_group_id; other targets take none."
  }
}

variable "scheduled_rules" {
  description = "Rules on the default bus that fire on a schedule (schedules only run there), e.g. a nightly cleanup, each with its targets and the input they receive."
  type = map(object({
    schedule_expression = string
    input               = optional(string, "{}")
    targets = map(object({
      kind             = string
      arn              = string
      message_group_id = optional(string)
    }))
  }))
  default = {}

  validation {
    condition     = alltrue([for r in values(var.scheduled_rules) : can(regex("^(rate|cron)\\(.+\\)$", r.schedule_expression))])
    error_message = "Schedules are rate(...) or cron(...) expressions."
  }

  validation {
    condition     = alltrue(flatten([for r in values(var.scheduled_rules) : [for t in values(r.targets) : contains(keys(local.target_arn_patterns), t.kind) && can(regex(lookup(local.target_arn_patterns, t.kind, "^$"), t.arn)) && (t.kind == "sqs" && endswith(t.arn, ".fifo")) == (t.message_group_id != null)]]))
    error_message = "Scheduled targets follow the same rules as event-type targets."
  }
}

variable "source_prefix" {
  description = "Only events whose source starts with this are routed (the ce_source of sluice's producers)."
  type        = string
  default     = "/"

  validation {
    condition     = length(var.source_prefix) > 0
    error_message = "A non-empty prefix; \"/\" matches every sluice source."
  }
}

variable "retry_max_attempts" {
  description = "Delivery retries per target before the event goes to the target dead-letter queue."
  type        = number
  default     = 185

  validation {
    condition     = var.retry_max_attempts >= 0 && var.retry_max_attempts <= 185
    error_message = "Between 0 and 185."
  }
}

variable "retry_max_event_age_seconds" {
  description = "Age after which EventBridge stops retrying an event."
  type        = number
  default     = 86400

  validation {
    condition     = var.retry_max_event_age_seconds >= 60 && var.retry_max_event_age_seconds <= 86400
    error_message = "Between 60 and 86400 seconds."
  }
}

variable "archive_retention_days" {
  description = "How long the archive keeps events for replay; 0 keeps them indefinitely."
  type        = number
  default     = 30

  validation {
    condition     = var.archive_retention_days >= 0
    error_message = "Zero or more days."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the bus and the dead-letter queue; its policy must let events.amazonaws.com use it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "A KMS key ARN."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}

  validation {
    condition     = length(var.tags) <= 40
    error_message = "At most 40 tags."
  }
}
