"""Static checks of terraform/ beside Terraform's own: what a plan cannot
show (layout, documentation, lifecycle settings) and how the checks fail.

`terraform validate` and the `terraform test` plans (scripts/check.sh) assert
the planned values; checkov runs beside these tests.
"""

import re
import sys
from pathlib import Path

import hcl2
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import readme  # noqa: E402
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
def test_readme_tables_are_generated_from_the_variables(directory):
    assert (directory / "README.md").read_text() == readme.expected(directory), (
        f"{directory.name}/README.md: run terraform/scripts/readme.py"
    )
    text = (directory / "README.md").read_text()
    assert "${" not in text, "types are shown as written, not as the parser sees them"
    for name in list(blocks(directory, "variable")) + list(blocks(directory, "output")):
        assert f"| `{name}` |" in text


def test_readme_types_are_written_as_in_hcl():
    tables = readme.tables(module_dir("eventbridge"))
    assert (
        "`map(object({ detail_type = string, targets = map(object({ kind = string, arn = string, "
        "message_group_id = optional(string) })) }))`" in tables
    )
    assert '| `source_prefix` | `string` | `"/"` |' in tables


def test_every_planned_root_has_a_terraform_test():
    for directory in ROOTS:
        assert list((directory / "tests").glob("*.tftest.hcl")), f"{directory.name} has no terraform test"


def test_the_example_commits_its_provider_lock():
    lock = (ROOT / "examples/complete/.terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lock
    assert 'version     = "5.100.0"' in lock


def test_the_check_fails_without_terraform():
    import os
    import subprocess

    env = dict(os.environ, TERRAFORM="/nonexistent/terraform")
    run = subprocess.run([ROOT / "scripts/check.sh"], env=env, capture_output=True, text=True)
    assert run.returncode == 1
    assert "no terraform binary at /nonexistent/terraform" in run.stderr
    env = dict(os.environ, TF_PLUGIN_MIRROR="/nonexistent/mirror")
    run = subprocess.run([ROOT / "scripts/check.sh"], env=env, capture_output=True, text=True)
    assert run.returncode == 1
    assert "no AWS provider in the filesystem mirror /nonexistent/mirror" in run.stderr


# What a plan does not show --------------------------------------------------


def test_msk_configuration_is_replaced_before_it_is_destroyed():
    config = resource(module_dir("msk"), "aws_msk_configuration", "this")
    assert one(config["lifecycle"])["create_before_destroy"] is True
    assert config["name"] == "${local.configuration_name}"


def test_msk_storage_scaling_is_not_undone():
    cluster = resource(module_dir("msk"), "aws_msk_cluster", "this")
    ignored = one(cluster["lifecycle"])["ignore_changes"]
    assert "volume_size" in str(ignored)



# IAM ----------------------------------------------------------------------

KEY_POLICIES = {("msk", "kms"), ("msk-connect-s3", "kms"), ("complete", "data_key")}


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
