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

override_data {
  target = data.aws_vpc.this
  values = { cidr_block = "10.0.0.0/16" }
}

variables {
  name                   = "sluice"
  vpc_id                 = "vpc-0123abcd"
  subnet_ids             = ["subnet-0a", "subnet-0b", "subnet-0c"]
  allowed_cidr_blocks    = ["10.0.0.0/16"]
  monitoring_cidr_blocks = ["10.9.0.0/24"]
}

run "defaults" {
  command = plan

  assert {
    condition     = aws_msk_cluster.this.encryption_info[0].encryption_in_transit[0].client_broker == "TLS" && aws_msk_cluster.this.encryption_info[0].encryption_in_transit[0].in_cluster
    error_message = "TLS only, between clients and brokers and between brokers."
  }

  assert {
    condition     = aws_msk_cluster.this.client_authentication[0].unauthenticated == false && aws_msk_cluster.this.client_authentication[0].sasl[0].iam && !aws_msk_cluster.this.client_authentication[0].sasl[0].scram
    error_message = "IAM authentication only."
  }

  assert {
    condition     = aws_msk_cluster.this.broker_node_group_info[0].connectivity_info[0].public_access[0].type == "DISABLED" && aws_msk_cluster.this.number_of_broker_nodes == 3 && length(aws_msk_cluster.this.broker_node_group_info[0].client_subnets) == 3
    error_message = "Three private brokers in three subnets."
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation && aws_cloudwatch_log_group.brokers.retention_in_days == 365
    error_message = "A rotated key encrypts the volumes; broker logs are kept a year."
  }

  assert {
    condition = alltrue([for p in ["auto.create.topics.enable=false", "default.replication.factor=3", "min.insync.replicas=2", "log.retention.hours=168", "unclean.leader.election.enable=false"] :
    contains([for l in split("\n", aws_msk_configuration.this.server_properties) : trimspace(l)], p)])
    error_message = "No auto-created topics, RF 3, min ISR 2, 7 days of retention, no unclean elections."
  }

  assert {
    condition     = aws_msk_configuration.this.name == "sluice-3-8-x" && aws_msk_configuration.this.kafka_versions == toset(["3.8.x"])
    error_message = "The configuration is named after its Kafka version."
  }

  # Clients reach only the IAM port; 9094 (mutual TLS) stays closed.
  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.from_cidr : r.from_port]) == toset([9098]) && alltrue([for r in aws_vpc_security_group_ingress_rule.from_cidr : r.to_port == r.from_port && r.cidr_ipv4 == "10.0.0.0/16"])
    error_message = "Client networks reach port 9098 only."
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.monitoring : r.from_port]) == toset([11001, 11002]) && alltrue([for r in aws_vpc_security_group_ingress_rule.monitoring : r.cidr_ipv4 == "10.9.0.0/24"])
    error_message = "Only the monitoring networks reach the JMX and node exporters."
  }

  assert {
    condition     = aws_msk_cluster.this.open_monitoring[0].prometheus[0].jmx_exporter[0].enabled_in_broker && aws_msk_cluster.this.open_monitoring[0].prometheus[0].node_exporter[0].enabled_in_broker
    error_message = "Open monitoring exports JMX and node metrics."
  }

  assert {
    condition     = aws_appautoscaling_target.storage.max_capacity == 1000 && aws_appautoscaling_policy.storage.target_tracking_scaling_policy_configuration[0].target_value == 60
    error_message = "Storage grows to 1000 GiB at 60 % use."
  }
}

run "kraft_and_scram" {
  command = plan

  variables {
    kafka_version     = "3.7.x.kraft"
    enable_scram      = true
    scram_secret_arns = ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_sluice-AbCdEf"]
  }

  assert {
    condition     = aws_msk_configuration.this.name == "sluice-3-7-x-kraft" && aws_msk_cluster.this.kafka_version == "3.7.x.kraft"
    error_message = "KRaft versions are accepted and get their own configuration."
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.from_cidr : r.from_port]) == toset([9096, 9098]) && aws_msk_cluster.this.client_authentication[0].sasl[0].scram
    error_message = "SCRAM opens 9096 (SASL over TLS) beside 9098."
  }
}

run "refuses_a_malformed_version" {
  command = plan

  variables {
    kafka_version = "3.8"
  }

  expect_failures = [var.kafka_version]
}
