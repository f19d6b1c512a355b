"""The Grafana dashboard and the Prometheus alert rules use only metrics sluice
exports, and cover what operators must be alerted on."""

import json
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
METRICS_RS = ROOT / "crates/sluice-telemetry/src/metrics.rs"
DASHBOARD = ROOT / "deploy/grafana/sluice-dashboard.json"
ALERTS = ROOT / "deploy/prometheus/sluice-alerts.yml"

# Summaries add these series to a histogram's name.
SUFFIXES = ("", "_sum", "_count")


def exported():
    names = set(re.findall(r'pub const [A-Z_]+: &str = "(sluice_[a-z_]+)";', METRICS_RS.read_text()))
    assert len(names) >= 15, names
    return {name + suffix for name in names for suffix in SUFFIXES}


def used(expr):
    return set(re.findall(r"\bsluice_[a-z_]+\b", expr))


def test_dashboard_queries_known_metrics():
    known = exported()
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["panels"]
    seen = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = used(target["expr"])
            assert names, target["expr"]
            assert names <= known, (panel["title"], names - known)
            seen |= names
    # Every metric has a panel.
    bases = {n for n in known if not n.endswith(("_sum", "_count"))}
    assert bases <= seen, bases - seen


def test_alert_rules_are_valid_and_cover_the_essentials():
    known = exported()
    rules = yaml.safe_load(ALERTS.read_text())
    alerts = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert {"alert", "expr", "labels", "annotations"} <= rule.keys(), rule
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert used(rule["expr"]) <= known, (rule["alert"], used(rule["expr"]) - known)
            alerts[rule["alert"]] = rule["expr"]
    essentials = {
        "lag": "sluice_consumer_lag_seconds",
        "dlq rate": "sluice_consumer_dead_lettered_total",
        "error rate": "sluice_consumer_handler_errors_total",
        "no partitions": "sluice_consumer_assigned_partitions",
    }
    for what, metric in essentials.items():
        assert any(metric in expr for expr in alerts.values()), f"no alert on {what}"
