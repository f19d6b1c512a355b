variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "A region name such as eu-west-1."
  }
}

variable "name" {
  description = "Name of the deployment; prefixes every resource."
  type        = string
  default     = "sluice"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "2 to 21 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC for the MSK cluster."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "The VPC id looks like vpc-0123abcd."
  }
}

variable "private_subnet_ids" {
  description = "Three private subnets in three availability zones."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) == 3
    error_message = "Exactly three subnets."
  }
}

variable "private_route_table_ids" {
  description = "Route tables of the private subnets; they get an S3 gateway endpoint, which the archive's workers need."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.private_route_table_ids : can(regex("^rtb-[0-9a-f]+$", r))])
    error_message = "Route table ids look like rtb-0123abcd."
  }
}

variable "archive_plugin" {
  description = "Where the Confluent S3 sink connector's ZIP (from Confluent Hub) lies in S3; when given, every event topic and its DLQ is archived to S3 through MSK Connect."
  type = object({
    bucket_arn = string
    file_key   = string
  })
  default = null

  validation {
    condition     = var.archive_plugin == null || (can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.archive_plugin.bucket_arn)) && endswith(var.archive_plugin.file_key, ".zip"))
    error_message = "A bucket ARN (arn:aws:s3:::bucket) and the key of a .zip file."
  }

  validation {
    condition     = var.archive_plugin == null || length(var.private_route_table_ids) > 0
    error_message = "The archive's workers reach S3 through the gateway endpoint: give private_route_table_ids."
  }
}

variable "client_cidr_blocks" {
  description = "Networks the services that use sluice run in."
  type        = list(string)

  validation {
    condition     = alltrue([for c in var.client_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "CIDR blocks such as 10.0.0.0/16."
  }
}

variable "monitoring_cidr_blocks" {
  description = "Networks of the Prometheus servers that scrape the brokers' exporters (ports 11001 and 11002)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.monitoring_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "CIDR blocks such as 10.0.0.0/16."
  }
}

variable "kafka_version" {
  description = "Kafka version of the MSK cluster, ZooKeeper-based (3.8.x) or KRaft (3.7.x.kraft, 4.0.x.kraft)."
  type        = string
  default     = "3.8.x"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.([0-9]+|x)(\\.tiered|\\.kraft)?$", var.kafka_version))
    error_message = "A version such as 3.8.x or 3.7.x.kraft."
  }
}

variable "broker_count" {
  description = "MSK brokers, a multiple of 3."
  type        = number
  default     = 3

  validation {
    condition     = var.broker_count % 3 == 0 && var.broker_count >= 3
    error_message = "A multiple of 3."
  }
}

variable "broker_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.m7g.large"

  validation {
    condition     = startswith(var.broker_instance_type, "kafka.")
    error_message = "An MSK instance type such as kafka.m7g.large."
  }
}

variable "visibility_timeouts" {
  description = "Visibility timeout per work queue, in seconds."
  type        = map(number)
  default = {
    notifications      = 30
    plugin_execution   = 300
    email_processing   = 120
    workflow_execution = 300
    batch_operations   = 900
  }

  validation {
    condition     = alltrue([for v in values(var.visibility_timeouts) : v >= 0 && v <= 43200])
    error_message = "Between 0 and 43200 seconds."
  }
}

variable "lambda_targets" {
  description = "Lambda functions that also receive an event type, by rule: email_received, email_validated, email_processed, plugin_executed or workflow_triggered."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for rule, arn in var.lambda_targets : contains(["email_received", "email_validated", "email_processed", "plugin_executed", "workflow_triggered"], rule) && can(regex("^arn:aws[a-z-]*:lambda:", arn))])
    error_message = "Keys are rule names (email_received, email_validated, email_processed, plugin_executed, workflow_triggered); values Lambda function ARNs."
  }
}

variable "state_machine_targets" {
  description = "Step Functions state machines started by an event type, by rule (the same rule names as lambda_targets)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for rule, arn in var.state_machine_targets : contains(["email_received", "email_validated", "email_processed", "plugin_executed", "workflow_triggered"], rule) && can(regex("^arn:aws[a-z-]*:states:", arn))])
    error_message = "Keys are rule names (email_received, email_validated, email_processed, plugin_executed, workflow_triggered); values state machine ARNs."
  }
}

variable "trust" {
  description = "Where the services run, hence who may assume their roles: ECS tasks (ecs), EKS Pod Identity (eks_pod_identity), or IAM roles for service accounts (eks_irsa, with the cluster's OIDC provider ARN and the namespace of the service accounts <name>-<service>)."
  type = object({
    kind              = string
    oidc_provider_arn = optional(string)
    namespace         = optional(string, "sluice")
  })
  default = { kind = "ecs" }

  validation {
    condition     = contains(["ecs", "eks_pod_identity", "eks_irsa"], var.trust.kind)
    error_message = "trust.kind is ecs, eks_pod_identity or eks_irsa."
  }
}

variable "alarm_emails" {
  description = "Addresses that receive alarms."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+$", e))])
    error_message = "Email addresses."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { project = "sluice" }

  validation {
    condition     = length(var.tags) <= 40
    error_message = "At most 40 tags."
  }
}
