variable "name" {
  description = "Prefix for the roles and policies."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9+=,.@_-]{1,40}$", var.name))
    error_message = "At most 40 characters allowed in IAM names."
  }
}

variable "cluster_arn" {
  description = "ARN of the MSK cluster (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kafka:[a-z0-9-]+:[0-9]{12}:cluster/[^/]+/[^/]+$", var.cluster_arn))
    error_message = "An MSK cluster ARN."
  }
}

variable "trusted_service" {
  description = "Service that assumes the roles, e.g. ecs-tasks.amazonaws.com or ec2.amazonaws.com."
  type        = string
  default     = "ecs-tasks.amazonaws.com"

  validation {
    condition     = endswith(var.trusted_service, ".amazonaws.com")
    error_message = "A service principal ending in .amazonaws.com."
  }
}

variable "producer_topics" {
  description = "Topics the producer writes."
  type        = list(string)

  validation {
    condition     = alltrue([for t in var.producer_topics : can(regex("^[a-zA-Z0-9._-]+$", t))])
    error_message = "Topic names: letters, digits, dots, hyphens and underscores; no wildcards."
  }
}

variable "consumer_topics" {
  description = "Topics the consumer reads (their <topic>.dlq topics are writable for dead letters)."
  type        = list(string)

  validation {
    condition     = alltrue([for t in var.consumer_topics : can(regex("^[a-zA-Z0-9._-]+$", t))])
    error_message = "Topic names: letters, digits, dots, hyphens and underscores; no wildcards."
  }
}

variable "consumer_groups" {
  description = "Consumer groups the consumer joins."
  type        = list(string)

  validation {
    condition     = alltrue([for g in var.consumer_groups : can(regex("^[a-zA-Z0-9._-]+$", g))])
    error_message = "Group names: letters, digits, dots, hyphens and underscores; no wildcards."
  }
}

variable "bridge_topics" {
  description = "Topics the bridge reads."
  type        = list(string)

  validation {
    condition     = alltrue([for t in var.bridge_topics : can(regex("^[a-zA-Z0-9._-]+$", t))])
    error_message = "Topic names: letters, digits, dots, hyphens and underscores; no wildcards."
  }
}

variable "bridge_group" {
  description = "Consumer group of the bridge."
  type        = string
  default     = "sluice-bridge"

  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]+$", var.bridge_group))
    error_message = "A group name without wildcards."
  }
}

variable "bridge_queue_arns" {
  description = "SQS queues the bridge sends to."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.bridge_queue_arns : can(regex("^arn:aws[a-z-]*:sqs:", a))])
    error_message = "SQS queue ARNs."
  }
}

variable "bridge_event_bus_arn" {
  description = "EventBridge bus the bridge publishes to."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:events:", var.bridge_event_bus_arn))
    error_message = "An EventBridge bus ARN."
  }
}

variable "kms_key_arns" {
  description = "KMS keys of the queues and bus the bridge writes to (it needs GenerateDataKey to send encrypted messages)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:", a))])
    error_message = "KMS key ARNs."
  }
}

variable "tags" {
  description = "Tags for the roles."
  type        = map(string)
  default     = {}

  validation {
    condition     = length(var.tags) <= 40
    error_message = "At most 40 tags."
  }
}
