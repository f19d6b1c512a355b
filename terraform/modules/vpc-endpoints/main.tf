data "aws_region" "current" {}

locals {
  region = data.aws_region.current.name

  ingress_from_cidrs  = { for c in var.allowed_cidr_blocks : c => c }
  ingress_from_groups = { for g in var.allowed_security_group_ids : g => g }
}

# One security group for all interface endpoints: HTTPS in from the given
# networks, nothing out. Endpoint interfaces only answer connections, and a
# security group is stateful, so replies need no egress rule; Terraform
# removes the allow-all egress rule AWS adds to a new group.
resource "aws_security_group" "this" {
  name        = "${var.name}-vpce"
  description = "VPC interface endpoints of ${var.name}: HTTPS from allowed networks only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-vpce" })
}

resource "aws_vpc_security_group_ingress_rule" "from_cidr" {
  for_each = local.ingress_from_cidrs

  security_group_id = aws_security_group.this.id
  description       = "HTTPS to AWS APIs from ${each.value}"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
  tags              = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "from_group" {
  for_each = local.ingress_from_groups

  security_group_id            = aws_security_group.this.id
  description                  = "HTTPS to AWS APIs from ${each.value}"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value
  tags                         = var.tags
}

resource "aws_vpc_endpoint" "interface" {
  for_each = var.services

  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.subnet_ids
  security_group_ids  = [aws_security_group.this.id]
  private_dns_enabled = true
  # null keeps the default policy (full access through the endpoint).
  policy = lookup(var.endpoint_policies, each.key, null)
  tags   = merge(var.tags, { Name = "${var.name}-${each.key}" })
}

# S3 through the route tables: no interface, no hourly charge, and the
# traffic of MSK Connect workers and of the bridge stays on the AWS network.
resource "aws_vpc_endpoint" "s3" {
  count = length(var.s3_gateway_route_table_ids) > 0 ? 1 : 0

  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.s3_gateway_route_table_ids
  policy            = lookup(var.endpoint_policies, "s3", null)
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}
