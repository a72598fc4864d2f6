"""Prometheus scrape config, alert rules and the Grafana dashboard.

Each expression must parse as PromQL (`promql-parser`) and name only series
that exist: Bilten's own (infra/metrics.py) or those of an exporter that
docs/deploy.md §Monitoring names.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.deploy.deploy_files import (
    DEPLOY,
    DEPLOY_DOC,
    EXTERNAL_METRICS,
    load_yaml,
    metric_names,
    of_kind,
    unknown_metrics,
)

ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "bilten.json"
# What issue 15 asks alerts for, by the series that show it.
REQUIRED = {
    "slow-consumer disconnects": "bilten_ws_disconnects_total",
    "verdict p99": "bilten_worker_handle_seconds_bucket",
    "consumer lag": "nats_consumer_num_pending",
    "worker restarts": "kube_pod_container_status_restarts_total",
}


def rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]


@pytest.mark.parametrize("rule", rules(), ids=[rule["alert"] for rule in rules()])
def test_each_alert_is_well_formed_and_names_real_series(rule: dict[str, Any]) -> None:
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
    assert rule["labels"]["severity"] in ("warning", "critical")
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert unknown_metrics(rule["expr"]) == set()


def test_the_alerts_cover_what_issue_15_asks() -> None:
    used = set().union(*(metric_names(rule["expr"]) for rule in rules()))
    assert {need for need, series in REQUIRED.items() if series not in used} == set()
    assert len({rule["alert"] for rule in rules()}) == len(rules())


def test_restart_alert_watches_the_workers_containers() -> None:
    containers = {
        c["name"]
        for d in of_kind("Deployment")
        if d["metadata"]["name"].startswith("bilten-worker-")
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    (rule,) = [r for r in rules() if REQUIRED["worker restarts"] in metric_names(r["expr"])]
    assert set(re.findall(r'container="([^"]+)"', rule["expr"])) == containers


def test_a_broken_or_unknown_expression_is_caught() -> None:
    with pytest.raises(ValueError):
        metric_names("rate(bilten_ws_connects_total[5m)")
    assert unknown_metrics("rate(bilten_ws_conects_total[5m])") == {"bilten_ws_conects_total"}


def test_prometheus_loads_the_alert_rules_and_scrapes_what_they_need() -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    assert config["rule_files"] == [ALERTS.name]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == {"bilten", "nats", "kube-state-metrics"}


@pytest.mark.parametrize(
    ("title", "expr"), panel_queries(), ids=[title for title, _ in panel_queries()]
)
def test_each_dashboard_query_names_real_series(title: str, expr: str) -> None:
    assert unknown_metrics(expr) == set()


def test_dashboard_panels_are_distinct() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"]


def test_every_outside_series_is_documented_with_its_exporter() -> None:
    doc = DEPLOY_DOC.read_text()
    assert [name for name in EXTERNAL_METRICS if f"`{name}`" not in doc] == []
