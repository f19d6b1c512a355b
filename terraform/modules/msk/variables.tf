variable "name" {
  description = "Name of the MSK cluster; also prefixes the names of its security group, KMS alias and log group."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,63}$", var.name))
    error_message = "The name must start with a letter and hold at most 64 letters, digits and hyphens."
  }
}

variable "kafka_version" {
  description = "Apache Kafka version of the cluster, as MSK names it: ZooKeeper-based (3.6.0, 3.8.x, 2.8.2.tiered) or KRaft (3.7.x.kraft, 4.0.x.kraft)."
  type        = string
  default     = "3.8.x"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.([0-9]+|x)(\\.tiered|\\.kraft)?$", var.kafka_version))
    error_message = "The Kafka version looks like 3.8.x, 3.6.0, 2.8.2.tiered, 3.7.x.kraft or 4.0.x.kraft."
  }
}

variable "vpc_id" {
  description = "VPC the brokers run in."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "The VPC id looks like vpc-0123abcd."
  }
}

variable "subnet_ids" {
  description = "Three private subnets, one per availability zone; brokers are spread across them."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) == 3 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "Exactly three subnet ids (subnet-...), one per availability zone."
  }
}

variable "broker_count" {
  description = "Number of brokers; a multiple of the three availability zones."
  type        = number
  default     = 3

  validation {
    condition     = var.broker_count >= 3 && var.broker_count % 3 == 0
    error_message = "The broker count is a multiple of 3 (one per availability zone), at least 3."
  }
}

variable "instance_type" {
  description = "Broker instance type."
  type        = string
  default     = "kafka.m7g.large"

  validation {
    condition     = startswith(var.instance_type, "kafka.")
    error_message = "MSK instance types start with kafka. (for example kafka.m7g.large)."
  }
}

variable "volume_size_gib" {
  description = "Initial EBS volume per broker, in GiB."
  type        = number
  default     = 100

  validation {
    condition     = var.volume_size_gib >= 1 && var.volume_size_gib <= 16384
    error_message = "The volume size is between 1 and 16384 GiB."
  }
}

variable "max_volume_size_gib" {
  description = "Upper bound for storage auto-scaling, in GiB per broker."
  type        = number
  default     = 1000

  validation {
    condition     = var.max_volume_size_gib >= 1 && var.max_volume_size_gib <= 16384
    error_message = "The maximum volume size is between 1 and 16384 GiB."
  }
}

variable "storage_target_utilization" {
  description = "Disk use, in percent, that storage auto-scaling keeps brokers under."
  type        = number
  default     = 60

  validation {
    condition     = var.storage_target_utilization >= 10 && var.storage_target_utilization <= 80
    error_message = "The target utilization is between 10 and 80 percent."
  }
}

variable "enable_scram" {
  description = "Also accept SASL/SCRAM-SHA-512 clients (port 9096) besides IAM."
  type        = bool
  default     = false

  validation {
    condition     = !var.enable_scram || length(var.scram_secret_arns) > 0
    error_message = "SCRAM needs at least one secret in scram_secret_arns."
  }
}

variable "scram_secret_arns" {
  description = "Secrets Manager secrets (names starting with AmazonMSK_, encrypted with a customer-managed key) holding SCRAM users; used when enable_scram is true."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.scram_secret_arns : can(regex("^arn:aws[a-z-]*:secretsmanager:", s))])
    error_message = "SCRAM secrets are Secrets Manager ARNs."
  }
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks allowed to reach the client ports (9098 IAM, and 9096 SCRAM when enabled)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.allowed_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "Every entry is a CIDR block such as 10.0.0.0/16."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups whose members may reach the client ports."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.allowed_security_group_ids : can(regex("^sg-[0-9a-f]+$", s))])
    error_message = "Security group ids look like sg-0123abcd."
  }
}

variable "monitoring_cidr_blocks" {
  description = "CIDR blocks of the Prometheus servers that scrape the brokers' open-monitoring exporters (ports 11001 JMX, 11002 node)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.monitoring_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "Every entry is a CIDR block such as 10.0.0.0/16."
  }
}

variable "enhanced_monitoring" {
  description = "MSK enhanced monitoring level."
  type        = string
  default     = "PER_TOPIC_PER_PARTITION"

  validation {
    condition     = contains(["DEFAULT", "PER_BROKER", "PER_TOPIC_PER_BROKER", "PER_TOPIC_PER_PARTITION"], var.enhanced_monitoring)
    error_message = "One of DEFAULT, PER_BROKER, PER_TOPIC_PER_BROKER, PER_TOPIC_PER_PARTITION."
  }
}

variable "log_retention_days" {
  description = "Retention of the broker log group, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "A CloudWatch Logs retention of at least one year (365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653 days)."
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
