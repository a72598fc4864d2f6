"""The Kubernetes manifests: valid for the pinned Kubernetes, and true to the code they run.

No cluster runs here: `kubernetes-validate` checks every object against the
API schemas of KUBERNETES_VERSION (strict: an unknown field is an error), and
the rest holds the manifests to what the processes really do.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as kubernetes

from bilten.hub.connection import LINGER_S
from bilten.hub.main import SHUTDOWN_TIMEOUT_S
from bilten.infra.settings import Settings
from bilten.workers.registry import WORKERS
from tests.deploy.deploy_files import (
    DEPLOY_DOC,
    K8S,
    bilten_metric_names,
    bilten_variables,
    k8s_documents,
    k8s_manifests,
    load_yaml,
    of_kind,
    served_paths,
    setting_variables,
)

KUBERNETES_VERSION = "1.33.0"
HUB = "bilten-hub"


def objects() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{doc['kind']}/{doc['metadata']['name']}", doc) for doc in k8s_documents()]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def deployment(name: str) -> dict[str, Any]:
    (found,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == name]
    return found


def config() -> dict[str, str]:
    (found,) = of_kind("ConfigMap")
    return found["data"]


@pytest.mark.parametrize(("name", "doc"), objects(), ids=[name for name, _ in objects()])
def test_every_object_is_valid_for_the_pinned_kubernetes(name: str, doc: dict[str, Any]) -> None:
    kubernetes.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_misspelled_field() -> None:
    broken = copy.deepcopy(deployment(HUB))
    container(broken)["readinesProbe"] = container(broken).pop("readinessProbe")
    with pytest.raises(kubernetes.ValidationError, match="readinesProbe"):
        kubernetes.validate(broken, KUBERNETES_VERSION, strict=True)


def test_no_secret_is_committed() -> None:
    assert of_kind("Secret") == []


def test_every_worker_has_a_deployment_running_it() -> None:
    workers = {}
    for d in of_kind("Deployment"):
        args = container(d)["args"]
        if args[0] == "worker":
            workers[args[1]] = d["metadata"]["name"]
    assert set(workers) == set(WORKERS)
    assert all(name == f"bilten-worker-{worker}" for worker, name in workers.items())


def test_probes_ask_the_paths_and_port_each_process_serves() -> None:
    served = served_paths()
    for d in of_kind("Deployment"):
        c = container(d)
        (port,) = c["ports"]
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
        assert {"/readyz", "/healthz"} <= served
        if c["args"][0] == "worker":  # a worker serves them on --metrics-port only
            assert c["args"][2:] == ["--metrics-port", str(port["containerPort"])]
        else:
            assert c["args"] == ["hub"]
            assert config()["BILTEN_PORT"] == str(port["containerPort"])
        annotations = d["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port["containerPort"])
        assert annotations["prometheus.io/path"] in served


def test_every_bilten_variable_is_one_bilten_reads() -> None:
    used: set[str] = set()
    for path in k8s_manifests():
        used |= bilten_variables(path.read_text())
    assert used, "the manifests configure nothing?"
    assert used - setting_variables() == set()


def test_secret_keys_are_the_ones_docs_tell_to_create() -> None:
    """Every key a pod reads from the `bilten` Secret is in docs/deploy.md's command."""
    keys = set()
    for doc in k8s_documents():
        for c in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            for env in c.get("env", []):
                ref = env["valueFrom"]["secretKeyRef"]
                assert ref["name"] == "bilten"
                keys.add(ref["key"])
    command = DEPLOY_DOC.read_text().split("kubectl create secret generic bilten", 1)[1]
    command = command.split("```", 1)[0]
    assert {key for key in keys if f"--from-literal={key}=" not in command} == set()


def test_hub_grace_period_covers_its_shutdown() -> None:
    """preStop pause, the requests in flight answered (up to the request timeout), then
    `reconnect` and LINGER_S for the clients, then the HTTP handlers."""
    spec = deployment(HUB)["spec"]["template"]["spec"]
    pause = container(deployment(HUB))["lifecycle"]["preStop"]["sleep"]["seconds"]
    answering = float(config().get("BILTEN_REQUEST_TIMEOUT", Settings().request_timeout_s))
    needed = pause + answering + LINGER_S + SHUTDOWN_TIMEOUT_S
    assert spec["terminationGracePeriodSeconds"] >= needed + 5


def test_hubs_scale_on_an_exported_connections_metric() -> None:
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == HUB
    (metric,) = hpa["spec"]["metrics"]
    name = metric["pods"]["metric"]["name"]
    assert name == "bilten_ws_connections" and name in bilten_metric_names()
    adapter = load_yaml(K8S / "prometheus-adapter-values.yaml")
    assert [rule["name"]["as"] for rule in adapter["rules"]["custom"]] == [name]


def test_every_deployment_has_a_disruption_budget() -> None:
    budgets = {
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for pdb in of_kind("PodDisruptionBudget")
    }
    for d in of_kind("Deployment"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] in budgets
        assert d["spec"]["replicas"] > 1  # minAvailable 1 leaves a drain room to move one


def test_nats_values_give_a_synced_three_server_jetstream() -> None:
    values = load_yaml(K8S / "nats-values.yaml")["config"]
    assert values["cluster"] == {"enabled": True, "replicas": 3}
    jetstream = values["jetstream"]
    assert jetstream["enabled"] and jetstream["fileStore"]["enabled"]
    assert jetstream["merge"]["sync_interval"] == "always"
    assert config()["BILTEN_STREAM_REPLICAS"] == "3"
    assert config()["BILTEN_NATS_URL"].startswith("nats://nats.bilten.svc")


def test_manifests_share_one_namespace() -> None:
    (namespace,) = of_kind("Namespace")
    others = [doc for doc in k8s_documents() if doc["kind"] != "Namespace"]
    assert {doc["metadata"]["namespace"] for doc in others} == {namespace["metadata"]["name"]}


def test_helm_values_files_are_plain_yaml() -> None:
    for path in K8S.glob("*-values.yaml"):
        assert isinstance(yaml.safe_load(path.read_text()), dict), path
