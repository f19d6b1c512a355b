variable "name" {
  description = "Prefix for alarm names and the SNS topic."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,200}$", var.name))
    error_message = "Letters, digits, hyphens and underscores."
  }
}

variable "dlq_names" {
  description = "Dead-letter queues to watch: any message in one raises an alarm."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.dlq_names : length(n) > 0])
    error_message = "Queue names, not empty strings."
  }
}

variable "queue_names" {
  description = "Work queues whose oldest message must not get older than max_message_age_seconds."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.queue_names : length(n) > 0])
    error_message = "Queue names, not empty strings."
  }
}

variable "max_message_age_seconds" {
  description = "Alarm when the oldest message of a work queue is older than this."
  type        = number
  default     = 300

  validation {
    condition     = var.max_message_age_seconds >= 60
    error_message = "At least 60 seconds."
  }
}

variable "msk_cluster_name" {
  description = "MSK cluster whose consumer lag and disk use are watched."
  type        = string

  validation {
    condition     = length(var.msk_cluster_name) > 0
    error_message = "The cluster name."
  }
}

variable "msk_broker_count" {
  description = "Number of brokers in the cluster (disk alarms are per broker)."
  type        = number
  default     = 3

  validation {
    condition     = var.msk_broker_count >= 1
    error_message = "At least one broker."
  }
}

variable "consumer_groups" {
  description = "Consumer groups whose offset lag is watched, one alarm per group (the largest SumOffsetLag over its topics): the groups the services really run, e.g. the iam module's consumer_groups output."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for g in var.consumer_groups : can(regex("^[a-zA-Z0-9._-]{1,255}$", g))]) && length(distinct(var.consumer_groups)) == length(var.consumer_groups)
    error_message = "Distinct consumer group names without wildcards."
  }
}

variable "max_offset_lag" {
  description = "Alarm when a consumer group is this many records behind on a topic."
  type        = number
  default     = 100000

  validation {
    condition     = var.max_offset_lag > 0
    error_message = "A positive number of records."
  }
}

variable "max_disk_used_percent" {
  description = "Alarm when a broker's data volume is fuller than this."
  type        = number
  default     = 80

  validation {
    condition     = var.max_disk_used_percent > 0 && var.max_disk_used_percent < 100
    error_message = "Between 0 and 100 percent."
  }
}

variable "max_cpu_percent" {
  description = "CPU use (user + system), in percent, above which a broker alarms; AWS advises staying below 60 % so a broker can take over a failed one's load."
  type        = number
  default     = 60

  validation {
    condition     = var.max_cpu_percent > 0 && var.max_cpu_percent <= 100
    error_message = "Between 1 and 100 percent."
  }
}

variable "eventbridge_rules" {
  description = "EventBridge rules whose failed invocations and throttling are watched, by a short key used in the alarm names: the rule name and, for rules on a custom bus, the bus name."
  type = map(object({
    rule_name = string
    bus_name  = optional(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for r in values(var.eventbridge_rules) : can(regex("^[A-Za-z0-9._-]{1,64}$", r.rule_name))])
    error_message = "Rule names: 1 to 64 letters, digits, dots, hyphens and underscores."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the SNS topic; its policy must let cloudwatch.amazonaws.com use it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "A KMS key ARN."
  }
}

variable "email_subscribers" {
  description = "Email addresses subscribed to the alarm topic (each must confirm)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.email_subscribers : can(regex("^[^@\\s]+@[^@\\s]+$", e))])
    error_message = "Email addresses."
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
