"""What the deployment tests read: the files under deploy/, and what they must agree with.

The deploy files cannot run here (no container engine, no cluster); the tests
hold them to the code instead: the settings Bilten reads, the routes its
processes serve, the metrics they export, the workers the registry names.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from aiohttp import web
from prometheus_client.metrics_core import Metric

from bilten.infra import health
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings, variable_for

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"

# Metrics the alerts and the dashboard use that other exporters serve; docs/deploy.md
# §Monitoring names each with its exporter.
EXTERNAL_METRICS = {
    "nats_consumer_num_pending": "prometheus-nats-exporter (NATS chart, -jsz=all, prefix nats)",
    "nats_varz_slow_consumers": "prometheus-nats-exporter (NATS chart, prefix nats)",
    "kube_pod_container_status_restarts_total": "kube-state-metrics",
}
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}
_BILTEN_VARIABLE = re.compile(r"\bBILTEN_[A-Z0-9_]+\b")


def k8s_manifests() -> list[Path]:
    """The manifests `kubectl apply` takes, in apply order (Helm values files are apart)."""
    return sorted(K8S.glob("[0-9][0-9]-*.yaml"))


def k8s_documents() -> list[dict[str, Any]]:
    """Every Kubernetes object in the manifests."""
    return [doc for path in k8s_manifests() for doc in yaml.safe_load_all(path.read_text())]


def of_kind(kind: str) -> list[dict[str, Any]]:
    """The Kubernetes objects of one kind."""
    return [doc for doc in k8s_documents() if doc["kind"] == kind]


def load_yaml(path: Path) -> Any:
    """One YAML document."""
    return yaml.safe_load(path.read_text())


def setting_variables() -> set[str]:
    """Every BILTEN_* variable infra/settings.py reads."""
    return {variable_for(field.name) for field in dataclasses.fields(Settings)}


def bilten_variables(text: str) -> set[str]:
    """The BILTEN_* names a file mentions."""
    return set(_BILTEN_VARIABLE.findall(text))


def served_paths() -> set[str]:
    """The health routes a hub, and a worker on its metrics port, really mount."""
    app = web.Application()
    health.add_routes(app)
    return {resource.canonical for resource in app.router.resources()}


def bilten_metric_names() -> set[str]:
    """Every series name a Bilten process can export (infra/metrics.py)."""
    names: set[str] = set()
    family: Metric
    for family in Metrics().registry.collect():
        if family.samples:
            names |= {sample.name for sample in family.samples}
        else:  # labelled: its series appear with their first child
            names |= {family.name + suffix for suffix in _SUFFIXES[family.type]}
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (it must parse)."""
    found: set[str] = set()

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.add(node.name or "")
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def unknown_metrics(expr: str) -> set[str]:
    """Names in `expr` that neither Bilten nor a documented exporter serves."""
    return metric_names(expr) - bilten_metric_names() - set(EXTERNAL_METRICS)
