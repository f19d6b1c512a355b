variable "name" {
  description = "Queue name without the .fifo suffix; the dead-letter queue is named <name>-dlq."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,70}$", var.name))
    error_message = "At most 70 letters, digits, hyphens and underscores (room for -dlq and .fifo)."
  }
}

variable "fifo" {
  description = "Create a FIFO queue (and FIFO dead-letter queue): order per message group, deduplication by id."
  type        = bool
  default     = false

  validation {
    condition     = var.fifo || var.message_retention_seconds <= var.dlq_message_retention_seconds
    error_message = "Messages of a standard queue keep their enqueue time in the dead-letter queue, so it must retain them at least as long as the queue."
  }
}

variable "content_based_deduplication" {
  description = "FIFO only: deduplicate by a hash of the body when a message has no deduplication id. The sluice bridge sets the event id as deduplication id; EventBridge rules set none, so a FIFO queue that EventBridge rules send to needs this on."
  type        = bool
  default     = false

  validation {
    condition     = var.fifo || !var.content_based_deduplication
    error_message = "Content-based deduplication exists only on FIFO queues."
  }

  validation {
    condition     = !var.fifo || length(var.allowed_source_arns) == 0 || var.content_based_deduplication
    error_message = "EventBridge rules send FIFO messages without a deduplication id, which a FIFO queue refuses unless content_based_deduplication is true."
  }
}

variable "max_message_size" {
  description = "Largest message the queue accepts, in bytes. The AWS provider 5.x accepts at most 262144 (256 KiB); the sluice bridge reads this attribute at start and never sends more."
  type        = number
  default     = 262144

  validation {
    condition     = var.max_message_size >= 1024 && var.max_message_size <= 262144
    error_message = "Between 1024 and 262144 bytes (the AWS provider 5.x limit)."
  }
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays hidden from other consumers; longer than the slowest handler."
  type        = number
  default     = 60

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200
    error_message = "Between 0 and 43200 seconds (12 hours)."
  }
}

variable "message_retention_seconds" {
  description = "How long the queue keeps a message."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "Between 60 seconds and 14 days (1209600)."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long the dead-letter queue keeps a message; the maximum, so that nothing expires before someone looks."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "Between 60 seconds and 14 days (1209600)."
  }
}

variable "max_receive_count" {
  description = "Receives after which a message moves to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "Between 1 and 1000."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for server-side encryption. Its policy must let the senders (events.amazonaws.com, the bridge's role) use it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "A KMS key ARN."
  }
}

variable "allowed_source_arns" {
  description = "EventBridge rules allowed to send to the queue (checked with aws:SourceArn)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.allowed_source_arns : can(regex("^arn:aws[a-z-]*:events:", a))])
    error_message = "EventBridge rule ARNs."
  }
}

variable "allowed_sender_role_arns" {
  description = "IAM roles allowed to send directly (for example the Kafka-to-SQS bridge)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.allowed_sender_role_arns : can(regex("^arn:aws[a-z-]*:iam::", a))])
    error_message = "IAM role ARNs."
  }
}

variable "tags" {
  description = "Tags for both queues."
  type        = map(string)
  default     = {}

  validation {
    condition     = length(var.tags) <= 40
    error_message = "At most 40 tags."
  }
}
