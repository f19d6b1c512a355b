variable "name" {
  description = "Name of the connector; also prefixes its plugin, worker configuration, role, KMS alias, log group and (by default) archive bucket. The sink's consumer group is connect-<name>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.name))
    error_message = "2 to 40 lowercase letters, digits and hyphens, starting with a letter (the name is part of the bucket name)."
  }
}

variable "cluster_arn" {
  description = "ARN of the MSK cluster (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID); topic and group ARNs are derived from it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kafka:[a-z0-9-]+:[0-9]{12}:cluster/[^/]+/[^/]+$", var.cluster_arn))
    error_message = "An MSK cluster ARN."
  }
}

variable "bootstrap_servers" {
  description = "Bootstrap servers for IAM clients (port 9098), comma-separated: the msk module's bootstrap_brokers_sasl_iam."
  type        = string

  validation {
    condition     = alltrue([for b in split(",", var.bootstrap_servers) : can(regex("^[A-Za-z0-9.-]+:9098$", trimspace(b)))])
    error_message = "Comma-separated host:9098 pairs (the IAM listener)."
  }
}

variable "subnet_ids" {
  description = "Private subnets the connector's workers run in; they need routes to the brokers and to S3 (a gateway endpoint)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "At least two subnet ids (subnet-...)."
  }
}

variable "security_group_ids" {
  description = "Security groups of the workers; they must reach the brokers on 9098 and S3 on 443."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) >= 1 && alltrue([for s in var.security_group_ids : can(regex("^sg-[0-9a-f]+$", s))])
    error_message = "At least one security group id (sg-...)."
  }
}

variable "kafkaconnect_version" {
  description = "Kafka Connect version of the MSK Connect runtime."
  type        = string
  default     = "2.7.1"

  validation {
    condition     = contains(["2.7.1", "3.7.x"], var.kafkaconnect_version)
    error_message = "MSK Connect offers 2.7.1 and 3.7.x."
  }
}

variable "topics" {
  description = "Topics to archive, by exact name (e.g. email.received). Leave empty when topics_regex is used."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for t in var.topics : can(regex("^[a-zA-Z0-9._-]{1,249}$", t))])
    error_message = "Topic names: letters, digits, dots, hyphens and underscores; no wildcards."
  }

  validation {
    condition     = (length(var.topics) > 0) != (var.topics_regex != null)
    error_message = "Give either topics or topics_regex, not both and not neither."
  }
}

variable "topics_regex" {
  description = "Java regular expression of the topics to archive (Kafka Connect's topics.regex), instead of a list; needs topic_name_patterns for the IAM policy."
  type        = string
  default     = null

  validation {
    condition     = var.topics_regex == null || try(length(var.topics_regex) > 0, false)
    error_message = "A non-empty regular expression, or null."
  }
}

variable "topic_name_patterns" {
  description = "IAM wildcard patterns (* and ?) of the topic names the connector may read when topics_regex is used; they should cover exactly what the regex matches."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.topic_name_patterns : can(regex("^[a-zA-Z0-9._*?-]+$", p)) && p != "*" && !startswith(p, "_")])
    error_message = "Patterns of letters, digits, . _ - * ?; not a bare \"*\" and not starting with \"_\" (internal topics)."
  }

  validation {
    condition     = (length(var.topic_name_patterns) > 0) == (var.topics_regex != null)
    error_message = "topics_regex needs topic_name_patterns (IAM wildcards such as \"email.*\") for the role's policy; with a topics list, leave them empty."
  }
}

variable "archive_dead_letter_topics" {
  description = "Also archive each listed topic's sluice dead-letter topic, <topic>.dlq (list mode only)."
  type        = bool
  default     = false

  validation {
    condition     = !var.archive_dead_letter_topics || var.topics_regex == null
    error_message = "With topics_regex, let the regex (and topic_name_patterns) match the .dlq topics instead."
  }
}

variable "plugin_bucket_arn" {
  description = "ARN of the bucket holding the connector plugin: the ZIP of Confluent's kafka-connect-s3 (10.0 or later) as downloaded from Confluent Hub."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.plugin_bucket_arn))
    error_message = "An S3 bucket ARN (arn:aws:s3:::bucket)."
  }
}

variable "plugin_file_key" {
  description = "Object key of the plugin ZIP in plugin_bucket_arn, e.g. plugins/confluentinc-kafka-connect-s3-10.5.13.zip."
  type        = string

  validation {
    condition     = endswith(lower(var.plugin_file_key), ".zip") && !startswith(var.plugin_file_key, "/")
    error_message = "An object key (no leading slash) of a .zip file."
  }
}

variable "plugin_object_version" {
  description = "Version id of the plugin object, to pin it in a versioned bucket; null takes the current version."
  type        = string
  default     = null

  validation {
    condition     = var.plugin_object_version == null || try(length(var.plugin_object_version) > 0, false)
    error_message = "A non-empty version id, or null."
  }
}

variable "tasks_max" {
  description = "Maximum number of sink tasks; more than the total partition count of the topics gains nothing."
  type        = number
  default     = 4

  validation {
    condition     = var.tasks_max >= 1 && var.tasks_max <= 200 && floor(var.tasks_max) == var.tasks_max
    error_message = "A whole number between 1 and 200."
  }
}

variable "mcu_count" {
  description = "MSK Connect units per worker (1 MCU = 1 vCPU and 4 GiB)."
  type        = number
  default     = 1

  validation {
    condition     = contains([1, 2, 4, 8], var.mcu_count)
    error_message = "1, 2, 4 or 8 MCUs per worker."
  }
}

variable "min_worker_count" {
  description = "Fewest workers autoscaling keeps."
  type        = number
  default     = 1

  validation {
    condition     = var.min_worker_count >= 1 && var.min_worker_count <= 10 && floor(var.min_worker_count) == var.min_worker_count
    error_message = "A whole number between 1 and 10."
  }
}

variable "max_worker_count" {
  description = "Most workers autoscaling adds."
  type        = number
  default     = 2

  validation {
    condition     = var.max_worker_count >= 1 && var.max_worker_count <= 10 && floor(var.max_worker_count) == var.max_worker_count
    error_message = "A whole number between 1 and 10."
  }

  validation {
    condition     = var.max_worker_count >= var.min_worker_count
    error_message = "max_worker_count is at least min_worker_count."
  }
}

variable "scale_in_cpu_percent" {
  description = "Worker CPU use, in percent, below which autoscaling removes a worker."
  type        = number
  default     = 20

  validation {
    condition     = var.scale_in_cpu_percent >= 1 && var.scale_in_cpu_percent <= 100
    error_message = "Between 1 and 100 percent."
  }

  validation {
    condition     = var.scale_in_cpu_percent < var.scale_out_cpu_percent
    error_message = "The scale-in threshold is below the scale-out threshold."
  }
}

variable "scale_out_cpu_percent" {
  description = "Worker CPU use, in percent, above which autoscaling adds a worker."
  type        = number
  default     = 80

  validation {
    condition     = var.scale_out_cpu_percent >= 1 && var.scale_out_cpu_percent <= 100
    error_message = "Between 1 and 100 percent."
  }
}

variable "output_format" {
  description = "Object format: avro (an Avro container file whose records are the values as bytes, byte for byte), json (one base64 JSON string per line, gzip) or bytes (raw values joined by newlines, gzip; only for payloads without newlines)."
  type        = string
  default     = "avro"

  validation {
    condition     = contains(["avro", "json", "bytes"], var.output_format)
    error_message = "avro, json or bytes. Parquet needs struct records, which ByteArrayConverter does not produce."
  }
}

variable "store_kafka_headers" {
  description = "Also write each record's headers (sluice's ce_* CloudEvents attributes and traceparent) to a .headers.avro file beside the values, record for record. Records without headers then go to the error path."
  type        = bool
  default     = true

  validation {
    condition     = var.store_kafka_headers != null
    error_message = "true or false."
  }
}

variable "store_kafka_keys" {
  description = "Also write each record's key to a .keys.avro file beside the values. Records without a key then go to the error path."
  type        = bool
  default     = false

  validation {
    condition     = var.store_kafka_keys != null
    error_message = "true or false."
  }
}

variable "topics_dir" {
  description = "Top-level prefix of the objects: <topics_dir>/<topic>/year=YYYY/month=MM/day=dd/hour=HH/<topic>+<partition>+<start offset>.<ext>."
  type        = string
  default     = "topics"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.topics_dir))
    error_message = "An S3 prefix of safe characters without leading or trailing slash."
  }
}

variable "flush_size" {
  description = "Records per object: an object is written once this many records of one topic partition and hour have accumulated."
  type        = number
  default     = 10000

  validation {
    condition     = var.flush_size >= 1 && floor(var.flush_size) == var.flush_size
    error_message = "A positive whole number of records."
  }
}

variable "rotate_interval_ms" {
  description = "Close an object once the record timestamps in it span this long (rotate.interval.ms). Rotation is checked when a record arrives, so keeps exactly-once delivery."
  type        = number
  default     = 600000

  validation {
    condition     = var.rotate_interval_ms >= 1000 && var.rotate_interval_ms <= 3600000
    error_message = "Between 1 second and 1 hour (the partition duration)."
  }
}

variable "rotate_schedule_interval_ms" {
  description = "Also close open objects on this wall-clock schedule, even when no record arrives (rotate.schedule.interval.ms); bounds how long quiet topics such as .dlq wait, at the cost of exactly-once delivery. null disables it."
  type        = number
  default     = null

  validation {
    condition     = var.rotate_schedule_interval_ms == null || coalesce(var.rotate_schedule_interval_ms, 0) >= 60000
    error_message = "At least one minute, or null."
  }
}

variable "offset_flush_interval_ms" {
  description = "How often the worker commits the sink's consumer offsets (offset.flush.interval.ms); the connector only reports offsets of records already in S3."
  type        = number
  default     = 60000

  validation {
    condition     = var.offset_flush_interval_ms >= 1000 && var.offset_flush_interval_ms <= 600000
    error_message = "Between 1 second and 10 minutes."
  }
}

variable "errors_tolerance" {
  description = "Kafka Connect errors.tolerance: none fails the task on a record it cannot write; all sends such records to dlq_topic and carries on."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "all"], var.errors_tolerance)
    error_message = "none or all."
  }

  validation {
    condition     = var.errors_tolerance == "none" || var.dlq_topic != null
    error_message = "errors.tolerance=all without a dlq_topic would drop records silently; set dlq_topic."
  }
}

variable "dlq_topic" {
  description = "Existing topic that records the connector cannot write go to, with the reason in __connect.errors.* headers (e.g. sluice-archive.dlq); null for none. Must not be one of the archived topics."
  type        = string
  default     = null

  validation {
    condition     = var.dlq_topic == null || can(regex("^[a-zA-Z0-9._-]{1,249}$", coalesce(var.dlq_topic, " ")))
    error_message = "A topic name: letters, digits, dots, hyphens and underscores."
  }

  validation {
    condition = var.dlq_topic == null || !(
      contains(var.topics, coalesce(var.dlq_topic, " ")) ||
      (var.archive_dead_letter_topics && contains([for t in var.topics : "${t}.dlq"], coalesce(var.dlq_topic, " "))) ||
      can(regex("^(?:${var.topics_regex})$", var.dlq_topic))
    )
    error_message = "The dead-letter topic must not be one the same connector archives."
  }
}

variable "dlq_replication_factor" {
  description = "Replication factor Kafka Connect expects of dlq_topic."
  type        = number
  default     = 3

  validation {
    condition     = var.dlq_replication_factor >= 1 && var.dlq_replication_factor <= 3
    error_message = "Between 1 and 3."
  }
}

variable "bucket_name" {
  description = "Name of the archive bucket; null makes it <name>-<account id>."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", coalesce(var.bucket_name, "-")))
    error_message = "A valid S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens."
  }
}

variable "access_log_bucket" {
  description = "Existing bucket that receives the archive bucket's S3 server access logs; null disables access logging."
  type        = string
  default     = null

  validation {
    condition     = var.access_log_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", coalesce(var.access_log_bucket, "-")))
    error_message = "A bucket name (not an ARN), or null."
  }
}

variable "archive_storage_class" {
  description = "Storage class objects move to after glacier_transition_days."
  type        = string
  default     = "GLACIER"

  validation {
    condition     = contains(["GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], var.archive_storage_class)
    error_message = "GLACIER_IR, GLACIER or DEEP_ARCHIVE."
  }
}

variable "glacier_transition_days" {
  description = "Age in days at which archived objects move to archive_storage_class."
  type        = number
  default     = 90

  validation {
    condition     = var.glacier_transition_days >= 1 && floor(var.glacier_transition_days) == var.glacier_transition_days
    error_message = "A positive whole number of days."
  }
}

variable "expiration_days" {
  description = "Age in days at which archived objects expire (become noncurrent versions)."
  type        = number
  default     = 2557

  validation {
    condition     = floor(var.expiration_days) == var.expiration_days && var.expiration_days > var.glacier_transition_days
    error_message = "A whole number of days after the Glacier transition."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions (overwritten or expired objects) are deleted for good."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "A positive whole number of days."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which multipart uploads a failed task left unfinished are aborted."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "A positive whole number of days."
  }
}

variable "log_retention_days" {
  description = "Retention of the connector's worker log group, in days."
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
