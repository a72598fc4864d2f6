"""deploy/compose.yaml: valid against the Compose Specification's schema, and complete.

The schema is vendored (tests/deploy/compose-spec.md says from where); no
container engine runs here, so the stack itself has never been started.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bilten.workers.registry import WORKERS
from tests.deploy.deploy_files import DEPLOY, bilten_variables, load_yaml, setting_variables

SCHEMA = Path(__file__).with_name("compose-spec.json")
COMPOSE = DEPLOY / "compose.yaml"
NATS = ("nats-1", "nats-2", "nats-3")


def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def services() -> dict[str, Any]:
    found: dict[str, Any] = load_yaml(COMPOSE)["services"]
    return found


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(load_yaml(COMPOSE))
    ]
    assert errors == []


def test_the_schema_rejects_a_misspelled_service_key() -> None:
    broken = load_yaml(COMPOSE)
    broken["services"]["hub-1"]["healtcheck"] = {}
    with pytest.raises(jsonschema.ValidationError, match="healtcheck"):
        validator().validate(broken)


def test_every_worker_is_a_service_serving_its_health_port() -> None:
    workers = {
        s["command"][1]: name
        for name, s in services().items()
        if s.get("command", [])[:1] == ["worker"]
    }
    assert set(workers) == set(WORKERS)
    for worker, name in workers.items():
        assert name == f"worker-{worker}"
        assert services()[name]["command"] == ["worker", worker, "--metrics-port", "8080"]


def test_two_hubs_behind_a_balancer_that_passes_websockets_to_ready_hubs() -> None:
    hubs = sorted(name for name, s in services().items() if s.get("command") == ["hub"])
    assert hubs == ["hub-1", "hub-2"]
    config = (DEPLOY / "lb" / "haproxy.cfg").read_text()
    assert re.findall(r"^\s*server (\S+) (\S+):8080 check$", config, re.M) == [
        (hub, hub) for hub in hubs
    ]
    assert "option httpchk GET /readyz" in config
    assert re.search(r"^\s*mode http$", config, re.M)  # HTTP mode passes the Upgrade through
    assert re.search(r"^\s*timeout tunnel \S+$", config, re.M)  # upgraded sockets may idle
    assert services()["lb"]["ports"] == ["8080:8080"]


def test_three_nats_servers_with_jetstream_synced_on_every_write() -> None:
    config = (DEPLOY / "nats" / "nats.conf").read_text()
    assert re.search(r"jetstream \{[^}]*sync_interval: always", config)
    assert re.findall(r"nats://(nats-\d):6222", config) == list(NATS)
    for name in NATS:
        service = services()[name]
        assert service["environment"]["NATS_SERVER_NAME"] == name
        assert "./nats/nats.conf:/etc/nats/nats.conf:ro" in service["volumes"]
        assert "healthcheck" in service
    assert services()["hub-1"]["environment"]["BILTEN_STREAM_REPLICAS"] == str(len(NATS))


def test_every_long_running_service_has_a_healthcheck_or_the_images() -> None:
    for name, service in services().items():
        if name == "migrate":
            assert service["restart"] == "no"
        elif service.get("image", "").startswith("bilten:"):
            assert "healthcheck" not in service  # the image's HEALTHCHECK (port 8080)
        else:
            assert "healthcheck" in service, name


def test_clickhouse_is_optional() -> None:
    assert services()["clickhouse"]["profiles"] == ["clickhouse"]
    assert "clickhouse" not in json.dumps(services()["worker-analytics"].get("depends_on", {}))


def test_everything_of_bilten_starts_after_the_migrations() -> None:
    for name, service in services().items():
        if service.get("image", "").startswith("bilten:") and name != "migrate":
            assert service["depends_on"]["migrate"]["condition"] == (
                "service_completed_successfully"
            )


def test_every_bilten_variable_is_one_bilten_reads() -> None:
    used = bilten_variables(COMPOSE.read_text())
    assert used and used - setting_variables() == set()
