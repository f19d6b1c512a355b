variable "name" {
  description = "Prefix of the security group and of each endpoint's Name tag."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,62}$", var.name))
    error_message = "A letter, then at most 62 letters, digits and hyphens."
  }
}

variable "vpc_id" {
  description = "VPC the endpoints are created in."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "The VPC id looks like vpc-0123abcd."
  }
}

variable "subnet_ids" {
  description = "Private subnets that get an endpoint network interface, at most one per availability zone."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "At least one subnet id (subnet-...)."
  }

  validation {
    condition     = length(distinct(var.subnet_ids)) == length(var.subnet_ids)
    error_message = "Each subnet once."
  }
}

variable "services" {
  description = "AWS services to reach through interface endpoints (com.amazonaws.<region>.<service>), by their endpoint service suffix. The default covers sluice's bridge and consumers: SQS, EventBridge, STS (IAM roles for pods and tasks), KMS and CloudWatch Logs."
  type        = set(string)
  default     = ["sqs", "events", "sts", "kms", "logs"]

  validation {
    condition     = length(var.services) > 0
    error_message = "At least one service; to add only the S3 gateway endpoint, the module is not needed."
  }

  validation {
    condition = alltrue([for s in var.services : contains([
      "sqs", "events", "sts", "kms", "logs", "monitoring", "xray", "sns",
      "secretsmanager", "ssm", "ssmmessages", "ec2messages", "ecr.api", "ecr.dkr",
      "kafka",
    ], s)])
    error_message = "Known interface endpoint services: sqs, events, sts, kms, logs, monitoring, xray, sns, secretsmanager, ssm, ssmmessages, ec2messages, ecr.api, ecr.dkr, kafka. S3 is a gateway endpoint (s3_gateway_route_table_ids)."
  }
}

variable "s3_gateway_route_table_ids" {
  description = "Route tables of the private subnets that get an S3 gateway endpoint (free, and how MSK Connect workers reach S3); empty for none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.s3_gateway_route_table_ids : can(regex("^rtb-[0-9a-f]+$", r))])
    error_message = "Route table ids look like rtb-0123abcd."
  }
}

variable "allowed_cidr_blocks" {
  description = "IPv4 CIDR blocks allowed to reach the interface endpoints on 443."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.allowed_cidr_blocks : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c)) && c != "0.0.0.0/0"])
    error_message = "IPv4 CIDR blocks such as 10.0.0.0/16; not 0.0.0.0/0."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups whose members may reach the interface endpoints on 443."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.allowed_security_group_ids : can(regex("^sg-[0-9a-f]+$", s))])
    error_message = "Security group ids look like sg-0123abcd."
  }

  validation {
    condition     = length(var.allowed_security_group_ids) + length(var.allowed_cidr_blocks) > 0
    error_message = "Name at least one client network (allowed_cidr_blocks) or security group, or nothing can use the endpoints."
  }
}

variable "endpoint_policies" {
  description = "Endpoint policy JSON by service (a key of services, or \"s3\" for the gateway endpoint). Services without one get the default policy, which allows full access; IAM and resource policies still apply."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.endpoint_policies) : contains(var.services, k) || (k == "s3" && length(var.s3_gateway_route_table_ids) > 0)])
    error_message = "Policies only for endpoints the module creates: a member of services, or s3 with s3_gateway_route_table_ids."
  }

  validation {
    condition     = alltrue([for p in values(var.endpoint_policies) : can(jsondecode(p).Statement)])
    error_message = "Each policy is a JSON policy document with a Statement."
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
