variable "name" {
  description = "Prefix for the roles and policies: each service gets the role and policy <name>-<service>."
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

variable "services" {
  description = "What each service does, by service name: the topics it produces to, the transactional ids it uses, and for each consumer group it runs the topics it reads (names, or prefix patterns such as ^workflow\\..*, exactly as in the service's configuration) and its DLQ topic template ({topic} is the record's topic; sluice's default is {topic}.dlq). A bridge route is one consumption whose group is sluice-bridge.<route>. Optionally the EventBridge buses and SQS queues it sends to and the KMS keys those use."
  type = map(object({
    produces          = optional(list(string), [])
    transactional_ids = optional(list(string), [])
    consumes = optional(list(object({
      group     = string
      topics    = list(string)
      dlq_topic = optional(string, "{topic}.dlq")
    })), [])
    event_bus_arns = optional(list(string), [])
    queue_arns     = optional(list(string), [])
    kms_key_arns   = optional(list(string), [])
  }))

  validation {
    condition     = length(var.services) > 0 && alltrue([for s in keys(var.services) : can(regex("^[a-z][a-z0-9-]{0,23}$", s))])
    error_message = "At least one service; service names are 1 to 24 lowercase letters, digits and hyphens, starting with a letter."
  }

  validation {
    condition     = alltrue(flatten([for s in values(var.services) : [for t in s.produces : can(regex(local.topic_name, t))]]))
    error_message = "Produced topics are topic names (letters, digits, dots, hyphens, underscores), not patterns."
  }

  validation {
    condition     = alltrue(flatten([for s in values(var.services) : [for c in s.consumes : [for t in c.topics : can(regex(local.topic_name, t)) || can(regex(local.prefix_pattern, t))]]]))
    error_message = "Consumed topics are topic names or prefix patterns: ^ then a literal prefix with dots escaped (\\.) then .* (for example ^workflow\\..*). IAM can grant a prefix, not an arbitrary regular expression."
  }

  validation {
    condition     = alltrue(flatten([for s in values(var.services) : [for c in s.consumes : can(regex(local.group_name, c.group)) && can(regex(local.topic_name, replace(c.dlq_topic, "{topic}", "t")))]]))
    error_message = "Consumer groups are names without wildcards; DLQ templates are topic names where {topic} may stand for the record's topic."
  }

  validation {
    condition = alltrue(flatten([for s in values(var.services) : concat(
      [for a in s.event_bus_arns : can(regex("^arn:aws[a-z-]*:events:", a))],
      [for a in s.queue_arns : can(regex("^arn:aws[a-z-]*:sqs:", a))],
      [for a in s.kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:", a))],
    )]))
    error_message = "event_bus_arns are EventBridge bus ARNs, queue_arns SQS queue ARNs, kms_key_arns KMS key ARNs."
  }
}

variable "trust" {
  description = "Who assumes the roles: ecs (ECS tasks of this account), eks_pod_identity (EKS Pod Identity), or eks_irsa (IAM roles for service accounts: the cluster's OIDC provider ARN, and the namespace whose service account <name>-<service> each pod runs as)."
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

  validation {
    condition     = var.trust.kind != "eks_irsa" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/.+$", coalesce(var.trust.oidc_provider_arn, "-")))
    error_message = "eks_irsa needs oidc_provider_arn, the IAM OIDC provider of the EKS cluster."
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
