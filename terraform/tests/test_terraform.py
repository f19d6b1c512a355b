"""Static checks of terraform/: the properties a sluice deployment relies on.

Terraform and its providers cannot be downloaded here, so the HCL is parsed
(python-hcl2) and its settings asserted; checkov runs beside these tests.
"""

import re
from pathlib import Path

import hcl2
import pytest

import hclfmt

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(p for p in (ROOT / "modules").iterdir() if p.is_dir())
ROOTS = MODULES + sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir())


def normalize(value):
    """The parser wraps every attribute value in a one-element list; blocks
    are lists of dicts. Unwrap the former, keep the latter."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) == 1 and not isinstance(value[0], dict):
            return normalize(value[0])
        return [normalize(v) for v in value]
    return value


def load(path: Path) -> dict:
    with path.open() as f:
        return normalize(hcl2.load(f))


def one(value):
    """python-hcl2 wraps every attribute value in a list."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def blocks(directory: Path, kind: str) -> dict:
    """Every `kind` block (resource, data, ...) in a directory, by type then name."""
    found: dict = {}
    for path in sorted(directory.glob("*.tf")):
        for entry in load(path).get(kind, []):
            for type_name, named in entry.items():
                if kind in ("variable", "output", "module"):
                    found[type_name] = named
                    continue
                for name, body in named.items():
                    found.setdefault(type_name, {})[name] = body
    return found


def resource(directory: Path, type_name: str, name: str) -> dict:
    return blocks(directory, "resource")[type_name][name]


def module_dir(name: str) -> Path:
    return ROOT / "modules" / name


# Layout -------------------------------------------------------------------


@pytest.mark.parametrize("directory", ROOTS, ids=lambda p: p.name)
def test_layout_of_a_well_kept_module(directory):
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (directory / name).is_file(), f"{directory.name} lacks {name}"
    versions = load(directory / "versions.tf")["terraform"][0]
    aws = one(one(versions["required_providers"])["aws"])
    assert aws["source"] == "hashicorp/aws"
    assert re.fullmatch(r">= [0-9.]+, < [0-9.]+", aws["version"]), "provider pinned with an upper bound"


@pytest.mark.parametrize("directory", ROOTS, ids=lambda p: p.name)
def test_every_variable_is_described_typed_and_validated(directory):
    variables = blocks(directory, "variable")
    assert variables
    for name, body in variables.items():
        assert one(body.get("description", "")).strip(), f"{directory.name}: var.{name} has no description"
        assert "type" in body, f"{directory.name}: var.{name} has no type"
        assert body.get("validation"), f"{directory.name}: var.{name} has no validation"


@pytest.mark.parametrize("directory", ROOTS, ids=lambda p: p.name)
def test_every_output_is_described(directory):
    for name, body in blocks(directory, "output").items():
        assert one(body.get("description", "")).strip(), f"{directory.name}: output {name}"


@pytest.mark.parametrize("directory", ROOTS, ids=lambda p: p.name)
def test_readme_lists_every_input_and_output(directory):
    readme = (directory / "README.md").read_text()
    for name in list(blocks(directory, "variable")) + list(blocks(directory, "output")):
        assert f"`{name}`" in readme, f"{directory.name}/README.md does not list {name}"


def test_formatting_follows_terraform_fmt():
    assert hclfmt.tree_problems(ROOT) == []


def test_the_format_check_sees_misalignment_and_tabs():
    bad = 'resource "x" "y" {\n  a = 1\n  long_name = 2\n\tb = 3\n}\n'
    found = hclfmt.problems(bad)
    assert any("not aligned" in p for p in found)
    assert any("tab" in p for p in found)
    assert hclfmt.problems(hclfmt.align('r {\n  a = 1\n  long = 2\n}\n')) == []


# MSK ----------------------------------------------------------------------


def test_msk_encrypts_in_transit_and_at_rest():
    cluster = resource(module_dir("msk"), "aws_msk_cluster", "this")
    encryption = one(cluster["encryption_info"])
    transit = one(encryption["encryption_in_transit"])
    assert transit["client_broker"] == "TLS", "TLS only between clients and brokers"
    assert transit["in_cluster"] is True
    assert "aws_kms_key.this" in encryption["encryption_at_rest_kms_key_arn"]
    key = resource(module_dir("msk"), "aws_kms_key", "this")
    assert key["enable_key_rotation"] is True


def test_msk_authenticates_with_iam_and_is_private():
    cluster = resource(module_dir("msk"), "aws_msk_cluster", "this")
    auth = one(cluster["client_authentication"])
    assert auth["unauthenticated"] is False
    assert one(auth["sasl"])["iam"] is True
    group = one(cluster["broker_node_group_info"])
    access = one(one(group["connectivity_info"])["public_access"])
    assert access["type"] == "DISABLED"


def test_msk_spans_three_zones():
    variables = blocks(module_dir("msk"), "variable")
    assert "length(var.subnet_ids) == 3" in one(one(variables["subnet_ids"]["validation"])["condition"])
    assert "% 3 == 0" in one(one(variables["broker_count"]["validation"])["condition"])
    assert one(variables["broker_count"]["default"]) == 3
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.(x|[0-9]+)", one(variables["kafka_version"]["default"]))


def test_msk_cluster_configuration():
    config = resource(module_dir("msk"), "aws_msk_configuration", "this")
    properties = dict(
        line.strip().split("=", 1) for line in config["server_properties"].strip().splitlines()
    )
    assert properties["log.retention.hours"] == "168"
    assert properties["auto.create.topics.enable"] == "false"
    assert properties["default.replication.factor"] == "3"
    assert properties["min.insync.replicas"] == "2"


def test_msk_monitoring_logging_and_storage_scaling():
    directory = module_dir("msk")
    cluster = resource(directory, "aws_msk_cluster", "this")
    prometheus = one(one(cluster["open_monitoring"])["prometheus"])
    assert one(prometheus["jmx_exporter"])["enabled_in_broker"] is True
    assert one(prometheus["node_exporter"])["enabled_in_broker"] is True
    assert cluster["enhanced_monitoring"] == "${var.enhanced_monitoring}"
    logs = one(one(one(cluster["logging_info"])["broker_logs"])["cloudwatch_logs"])
    assert logs["enabled"] is True
    log_group = resource(directory, "aws_cloudwatch_log_group", "brokers")
    assert log_group["retention_in_days"] == "${var.log_retention_days}"
    assert "kms_key_id" in log_group
    target = resource(directory, "aws_appautoscaling_target", "storage")
    assert target["scalable_dimension"] == "kafka:broker-storage:VolumeSize"


def test_msk_security_group_opens_only_client_ports_to_given_networks():
    directory = module_dir("msk")
    text = (directory / "main.tf").read_text()
    assert "0.0.0.0/0" not in text
    ports = re.search(r"client_ports\s*=\s*(.*)", text).group(1)
    assert set(re.findall(r"\d{4}", ports)) == {"9094", "9096", "9098"}
    rules = blocks(directory, "resource")["aws_vpc_security_group_ingress_rule"]
    assert rules["from_cidr"]["cidr_ipv4"] == "${each.value.cidr}"
    assert rules["from_group"]["referenced_security_group_id"] == "${each.value.group}"


# SQS ----------------------------------------------------------------------


def test_every_queue_has_an_encrypted_dlq_with_redrive_policies():
    directory = module_dir("sqs-queue")
    queue = resource(directory, "aws_sqs_queue", "this")
    dlq = resource(directory, "aws_sqs_queue", "dlq")
    for q in (queue, dlq):
        assert q["kms_master_key_id"] == "${var.kms_key_arn}"
        assert q["fifo_queue"] == "${var.fifo}", "the DLQ of a FIFO queue is FIFO too"
    assert "aws_sqs_queue.dlq.arn" in queue["redrive_policy"]
    allow = resource(directory, "aws_sqs_queue_redrive_allow_policy", "dlq")
    assert "byQueue" in allow["redrive_allow_policy"]
    assert "visibility_timeout_seconds" in blocks(directory, "variable")


def test_queue_policy_admits_only_the_intended_rules():
    text = (module_dir("sqs-queue") / "main.tf").read_text()
    assert '"aws:SourceArn"' in text and "var.allowed_source_arns" in text
    assert '"aws:SecureTransport"' in text


def test_example_queues_fifo_where_stated():
    text = (ROOT / "examples/complete/main.tf").read_text()
    queues = dict(re.findall(r"^\s+(\w+)\s*=\s*\{ fifo = (true|false) \}", text, re.M))
    assert queues == {
        "notifications": "true",
        "plugin_execution": "false",
        "email_processing": "false",
        "workflow_execution": "false",
        "batch_operations": "false",
    }
    module = blocks(ROOT / "examples/complete", "module")["queues"]
    assert module["source"] == "../../modules/sqs-queue", "every queue gets the module's DLQ"


# EventBridge --------------------------------------------------------------


def test_eventbridge_rules_per_event_type_with_retries_and_dlq():
    text = (ROOT / "examples/complete/main.tf").read_text()
    for event_type in (
        "email.received.v1",
        "email.validated.v1",
        "email.processed.v1",
        "plugin.executed.v1",
        "workflow.triggered.v1",
    ):
        assert f'detail_type = "{event_type}"' in text
    assert "cleanup" in text and "cron(" in text
    directory = module_dir("eventbridge")
    for name in ("by_type", "scheduled"):
        target = resource(directory, "aws_cloudwatch_event_target", name)
        assert one(target["retry_policy"])["maximum_retry_attempts"] == "${var.retry_max_attempts}"
        assert one(target["dead_letter_config"])["arn"] == "${aws_sqs_queue.target_dlq.arn}"
    archive = resource(directory, "aws_cloudwatch_event_archive", "this")
    assert "aws_cloudwatch_event_bus.this.arn" in archive["event_source_arn"]
    assert "kms_master_key_id" in resource(directory, "aws_sqs_queue", "target_dlq")


# Alarms -------------------------------------------------------------------


def test_alarms_cover_dlqs_age_lag_and_disk_to_an_encrypted_topic():
    directory = module_dir("alarms")
    topic = resource(directory, "aws_sns_topic", "alarms")
    assert topic["kms_master_key_id"] == "${var.kms_key_arn}"
    alarms = blocks(directory, "resource")["aws_cloudwatch_metric_alarm"]
    dlq = alarms["dlq_not_empty"]
    assert (dlq["metric_name"], dlq["comparison_operator"], dlq["threshold"]) == (
        "ApproximateNumberOfMessagesVisible",
        "GreaterThanThreshold",
        0,
    )
    assert alarms["oldest_message_age"]["metric_name"] == "ApproximateAgeOfOldestMessage"
    assert alarms["consumer_lag"]["metric_name"] == "SumOffsetLag"
    assert alarms["disk_used"]["metric_name"] == "KafkaDataLogsDiskUsed"
    for alarm in alarms.values():
        assert "aws_sns_topic.alarms.arn" in str(alarm["alarm_actions"])


# IAM ----------------------------------------------------------------------

KEY_POLICIES = {("msk", "kms"), ("complete", "data_key")}


def policy_statements():
    for directory in ROOTS:
        documents = blocks(directory, "data").get("aws_iam_policy_document", {})
        for name, document in documents.items():
            statements = list(document.get("statement", []))
            for dynamic in document.get("dynamic", []):
                statements += [one(one(d)["content"]) for d in dynamic.values()]
            for statement in statements:
                yield directory.name, name, statement


def wildcard_problems(directory, name, statement) -> list[str]:
    found = []
    # Key policies name the key as "*"; a Deny may be as wide as it likes.
    if (directory, name) in KEY_POLICIES or statement.get("effect") == "Deny":
        return found
    for action in statement.get("actions", []):
        if action == "*" or action.endswith(":*"):
            found.append(f"{directory}/{name}: wildcard action {action}")
    if statement.get("resources") in ("*", ["*"]):
        found.append(f"{directory}/{name}: wildcard resource")
    return found


def test_no_wildcard_actions_or_resources():
    found = []
    statements = list(policy_statements())
    assert len(statements) > 10
    for directory, name, statement in statements:
        found += wildcard_problems(directory, name, statement)
    assert found == []


def test_the_wildcard_check_sees_wildcards():
    assert wildcard_problems("x", "p", {"actions": ["sqs:*"], "resources": ["arn:q"]})
    assert wildcard_problems("x", "p", {"actions": ["sqs:SendMessage"], "resources": ["*"]})
    assert not wildcard_problems("x", "p", {"effect": "Deny", "actions": ["sqs:*"], "resources": ["*"]})


def test_roles_are_scoped_to_their_cluster_topics_and_groups():
    text = (module_dir("iam") / "main.tf").read_text()
    assert 'replace(var.cluster_arn, ":cluster/", ":topic/")' in text
    assert 'replace(var.cluster_arn, ":cluster/", ":group/")' in text
    documents = blocks(module_dir("iam"), "data")["aws_iam_policy_document"]
    producer = {s["sid"]: s for s in documents["producer"]["statement"]}
    assert producer["Topics"]["resources"] == "${local.producer_topic_arns}"
    assert "kafka-cluster:WriteData" in producer["Topics"]["actions"]
    bridge = documents["bridge"]
    sids = {s["sid"] for s in bridge["statement"]}
    assert {"PutEvents", "ReadTopics", "Group"} <= sids


def test_outputs_feed_sluice_configuration():
    outputs = blocks(ROOT / "examples/complete", "output")
    for name in ("bootstrap_brokers_sasl_iam", "event_bus_name", "queue_urls", "role_arns"):
        assert name in outputs
