# Plans the module with the real AWS provider; nothing reaches AWS (the
# region comes from the provider configuration, the security group id is
# fixed during the plan).

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

override_resource {
  target          = aws_security_group.this
  override_during = plan
  values = {
    id = "sg-0e0e0e0e0e0e0e0e0"
  }
}

override_resource {
  target          = aws_vpc_endpoint.interface
  override_during = plan
  values = {
    id = "vpce-0123456789abcdef0"
    # Computed when the configuration sets none: AWS's default policy.
    policy = "default"
    dns_entry = [{
      dns_name       = "vpce-0123456789abcdef0-abcdefgh.example.vpce.amazonaws.com"
      hosted_zone_id = "Z7HUB22UULQXV"
    }]
  }
}

override_resource {
  target          = aws_vpc_endpoint.s3
  override_during = plan
  values = {
    id             = "vpce-0s3s3s3s3s3s3s3s3"
    prefix_list_id = "pl-6da54004"
  }
}

variables {
  name                       = "sluice"
  vpc_id                     = "vpc-0123abcd"
  subnet_ids                 = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"]
  allowed_cidr_blocks        = ["10.20.0.0/16"]
  allowed_security_group_ids = ["sg-0123456789abcdef0"]
  s3_gateway_route_table_ids = ["rtb-0a1b2c3d4e5f60001", "rtb-0a1b2c3d4e5f60002"]
  tags = {
    project = "sluice"
  }
}

run "defaults" {
  command = plan

  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["sqs", "events", "sts", "kms", "logs"])
    error_message = "By default: SQS, EventBridge, STS, KMS and CloudWatch Logs."
  }

  assert {
    condition     = alltrue([for s, e in aws_vpc_endpoint.interface : e.service_name == "com.amazonaws.eu-west-1.${s}"])
    error_message = "Service names come from the region."
  }

  assert {
    condition = alltrue([
      for e in aws_vpc_endpoint.interface :
      e.vpc_endpoint_type == "Interface" && e.private_dns_enabled && e.vpc_id == "vpc-0123abcd" &&
      e.subnet_ids == toset(var.subnet_ids) && e.security_group_ids == toset(["sg-0e0e0e0e0e0e0e0e0"])
    ])
    error_message = "Interface endpoints with private DNS in the given subnets, behind the module's security group."
  }

  assert {
    condition     = alltrue([for e in aws_vpc_endpoint.interface : e.policy == "default"])
    error_message = "Without endpoint_policies, endpoints keep the default policy."
  }

  assert {
    condition     = alltrue([for s, e in aws_vpc_endpoint.interface : e.tags["Name"] == "sluice-${s}" && e.tags["project"] == "sluice"])
    error_message = "Endpoints are named and tagged."
  }

  assert {
    condition = alltrue([
      for r in concat(values(aws_vpc_security_group_ingress_rule.from_cidr), values(aws_vpc_security_group_ingress_rule.from_group)) :
      r.ip_protocol == "tcp" && r.from_port == 443 && r.to_port == 443 && length(r.description) > 0 && r.security_group_id == "sg-0e0e0e0e0e0e0e0e0"
    ])
    error_message = "Every rule admits HTTPS only, and says why."
  }

  assert {
    condition = (
      toset([for r in aws_vpc_security_group_ingress_rule.from_cidr : r.cidr_ipv4]) == toset(["10.20.0.0/16"]) &&
      toset([for r in aws_vpc_security_group_ingress_rule.from_group : r.referenced_security_group_id]) == toset(["sg-0123456789abcdef0"])
    )
    error_message = "Only the given networks and security groups are admitted."
  }

  assert {
    condition = (
      length(aws_vpc_endpoint.s3) == 1 &&
      aws_vpc_endpoint.s3[0].vpc_endpoint_type == "Gateway" &&
      aws_vpc_endpoint.s3[0].service_name == "com.amazonaws.eu-west-1.s3" &&
      aws_vpc_endpoint.s3[0].route_table_ids == toset(var.s3_gateway_route_table_ids)
    )
    error_message = "An S3 gateway endpoint on the given route tables."
  }

  assert {
    condition     = output.s3_prefix_list_id == "pl-6da54004" && output.endpoint_ids["s3"] == "vpce-0s3s3s3s3s3s3s3s3"
    error_message = "The S3 prefix list and endpoint id are exported."
  }

  assert {
    condition     = output.security_group_id == "sg-0e0e0e0e0e0e0e0e0"
    error_message = "The endpoints' security group is exported."
  }
}

run "monitoring_and_policies_without_s3" {
  command = plan

  variables {
    services                   = ["sqs", "events", "sts", "kms", "logs", "monitoring"]
    s3_gateway_route_table_ids = []
    endpoint_policies = {
      sqs = jsonencode({
        Version = "2012-10-17"
        Statement = [{
          Effect    = "Allow"
          Principal = "*"
          Action    = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
          Resource  = "arn:aws:sqs:eu-west-1:123456789012:sluice-*"
        }]
      })
    }
  }

  assert {
    condition     = aws_vpc_endpoint.interface["monitoring"].service_name == "com.amazonaws.eu-west-1.monitoring"
    error_message = "CloudWatch metrics can be added."
  }

  assert {
    condition     = jsondecode(aws_vpc_endpoint.interface["sqs"].policy).Statement[0].Resource == "arn:aws:sqs:eu-west-1:123456789012:sluice-*"
    error_message = "A given policy is the endpoint's policy."
  }

  assert {
    condition     = alltrue([for s, e in aws_vpc_endpoint.interface : e.policy == "default" if s != "sqs"])
    error_message = "The other endpoints keep the default policy."
  }

  assert {
    condition     = length(aws_vpc_endpoint.s3) == 0 && output.s3_prefix_list_id == null && !contains(keys(output.endpoint_ids), "s3")
    error_message = "No route tables, no S3 gateway endpoint."
  }
}

run "refuses_unknown_services" {
  command = plan

  variables {
    services = ["sqs", "s3"]
  }

  expect_failures = [var.services]
}

run "refuses_a_policy_for_an_endpoint_it_does_not_create" {
  command = plan

  variables {
    endpoint_policies = {
      secretsmanager = jsonencode({ Version = "2012-10-17", Statement = [] })
    }
  }

  expect_failures = [var.endpoint_policies]
}

run "refuses_a_policy_that_is_not_json" {
  command = plan

  variables {
    endpoint_policies = {
      sqs = "allow everything"
    }
  }

  expect_failures = [var.endpoint_policies]
}

run "refuses_the_whole_internet" {
  command = plan

  variables {
    allowed_cidr_blocks = ["0.0.0.0/0"]
  }

  expect_failures = [var.allowed_cidr_blocks]
}

run "refuses_endpoints_nobody_may_reach" {
  command = plan

  variables {
    allowed_cidr_blocks        = []
    allowed_security_group_ids = []
  }

  expect_failures = [var.allowed_security_group_ids]
}
