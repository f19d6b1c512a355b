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

variables {
  name        = "sluice"
  cluster_arn = "arn:aws:kafka:eu-west-1:123456789012:cluster/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3"
  services = {
    archiver = {
      produces          = ["email.archived"]
      transactional_ids = ["archiver-1"]
      consumes = [
        { group = "archiver", topics = ["email.received", "^workflow\\..*"], dlq_topic = "{topic}.archiver.dlq" },
      ]
    }
    reader = {
      consumes = [{ group = "readers", topics = ["email.received"] }]
    }
  }
}

run "grants_follow_the_services" {
  command = plan

  assert {
    condition     = toset(flatten([for s in jsondecode(output.policy_documents["archiver"]).Statement : s.Resource if s.Sid == "ReadTopics"])) == toset(["arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/email.received", "arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/workflow.*"])
    error_message = "A pattern ^prefix.* is granted as the IAM prefix prefix*."
  }

  assert {
    condition     = toset(flatten([for s in jsondecode(output.policy_documents["archiver"]).Statement : s.Resource if s.Sid == "WriteTopics"])) == toset(["arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/email.archived", "arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/email.received.archiver.dlq", "arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/workflow.*.archiver.dlq"])
    error_message = "The service writes what it produces and its DLQ template applied to each topic."
  }

  assert {
    condition     = flatten([for s in jsondecode(output.policy_documents["archiver"]).Statement : s.Resource if s.Sid == "TransactionalIds"]) == ["arn:aws:kafka:eu-west-1:123456789012:transactional-id/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/archiver-1"]
    error_message = "Transactional ids are granted one by one."
  }

  assert {
    condition     = flatten([for s in jsondecode(output.policy_documents["reader"]).Statement : s.Resource if s.Sid == "Groups"]) == ["arn:aws:kafka:eu-west-1:123456789012:group/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/readers"] && flatten([for s in jsondecode(output.policy_documents["reader"]).Statement : s.Resource if s.Sid == "WriteTopics"]) == ["arn:aws:kafka:eu-west-1:123456789012:topic/sluice/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-3/email.received.dlq"]
    error_message = "A consumer joins its group and writes to <topic>.dlq by default."
  }

  assert {
    condition     = aws_iam_role.service["reader"].name == "sluice-reader" && aws_iam_role_policy_attachment.service["reader"].role == "sluice-reader"
    error_message = "Each service has its role <name>-<service> with its policy."
  }

  # ECS tasks assume the roles only on behalf of this account.
  assert {
    condition     = jsondecode(data.aws_iam_policy_document.assume["reader"].json).Statement[0].Principal.Service == "ecs-tasks.amazonaws.com" && jsondecode(data.aws_iam_policy_document.assume["reader"].json).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    error_message = "The ECS trust is bound to this account."
  }
}

run "eks_service_accounts" {
  command = plan

  variables {
    trust = { kind = "eks_irsa", oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC123", namespace = "events" }
  }

  assert {
    condition     = jsondecode(data.aws_iam_policy_document.assume["reader"].json).Statement[0].Action == "sts:AssumeRoleWithWebIdentity" && jsondecode(data.aws_iam_policy_document.assume["reader"].json).Statement[0].Principal.Federated == "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
    error_message = "IRSA roles trust the cluster's OIDC provider."
  }

  assert {
    condition     = jsondecode(data.aws_iam_policy_document.assume["reader"].json).Statement[0].Condition.StringEquals == { "oidc.eks.eu-west-1.amazonaws.com/id/ABC123:aud" = "sts.amazonaws.com", "oidc.eks.eu-west-1.amazonaws.com/id/ABC123:sub" = "system:serviceaccount:events:sluice-reader" }
    error_message = "An IRSA role is bound to its one service account."
  }
}

run "eks_pod_identity" {
  command = plan

  variables {
    trust = { kind = "eks_pod_identity" }
  }

  assert {
    condition     = jsondecode(data.aws_iam_policy_document.assume["reader"].json).Statement[0].Principal.Service == "pods.eks.amazonaws.com" && toset(jsondecode(data.aws_iam_policy_document.assume["reader"].json).Statement[0].Action) == toset(["sts:AssumeRole", "sts:TagSession"])
    error_message = "Pod Identity assumes the role and tags the session."
  }
}

run "refuses_a_pattern_iam_cannot_express" {
  command = plan

  variables {
    services = { reader = { consumes = [{ group = "readers", topics = ["^email\\.(received|validated)"] }] } }
  }

  expect_failures = [var.services]
}

run "refuses_an_unescaped_dot" {
  command = plan

  variables {
    services = { reader = { consumes = [{ group = "readers", topics = ["^workflow..*"] }] } }
  }

  expect_failures = [var.services]
}

run "refuses_irsa_without_provider" {
  command = plan

  variables {
    trust = { kind = "eks_irsa" }
  }

  expect_failures = [var.trust]
}
