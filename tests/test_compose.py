"""The compose stand (compose.yaml, compose/): it cannot run here (no container engine), so it
is checked as far as the tools allow: `docker-compose config` (Debian's docker-compose),
every file it mounts exists, Prometheus's `promtool check config`, and the Grafana dashboard
asks only for metrics the stand exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import trio
import yaml

from qakit_trio.config import KNOWN_VARIABLES, Settings
from qakit_trio.services import Services
from qakit_trio.web.metrics import Scrapes, StandCollector

from .support.pg import installed

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"


def config() -> dict[str, Any]:
    done = subprocess.run([installed("docker-compose", "docker-compose"), "-f", str(COMPOSE),
                           "config"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = yaml.safe_load(done.stdout)
    return loaded


def test_the_compose_file_validates_and_describes_the_whole_stand() -> None:
    services = config()["services"]
    assert set(services) == {"qakit-trio", "postgres", "kafka", "kafka-ui", "elasticsearch",
                             "kibana", "filebeat", "prometheus", "grafana"}
    stand = services["qakit-trio"]
    assert stand["container_name"] == "qa_websocket"
    assert stand["build"]["dockerfile"] == "Containerfile"
    assert {(p["target"], int(p["published"])) for p in stand["ports"]} == {(8002, 8002),
                                                                            (8000, 8000)}
    assert stand["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                   "kafka": {"condition": "service_healthy"}}
    for name in ("qakit-trio", "postgres", "kafka", "elasticsearch"):
        assert services[name]["healthcheck"]["test"], name
    assert services["kibana"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    # the stand's settings are ones it knows (an unknown QAKIT_ one stops it at start-up)
    assert {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"} <= set(stand["environment"])
    assert set(stand["environment"]) <= set(KNOWN_VARIABLES)


def test_every_mounted_file_exists() -> None:
    # docker-compose 1.29 prints a volume as "SOURCE:TARGET:MODE", the source made absolute
    sources = [str(volume).split(":", 1)[0] for service in config()["services"].values()
               for volume in service.get("volumes", [])]
    mounts = [source for source in sources if source.startswith(str(ROOT))]
    assert len(mounts) == 4  # filebeat.yml, prometheus.yml, grafana provisioning, dashboards
    for source in mounts:
        assert Path(source).exists(), source


def test_prometheus_configuration_is_valid_and_scrapes_the_stand() -> None:
    path = ROOT / "compose" / "prometheus.yml"
    done = subprocess.run([installed("promtool", "prometheus"), "check", "config", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    [job] = yaml.safe_load(path.read_text())["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["qa_websocket:8002"]


def exported_metrics() -> set[str]:
    async def collect() -> set[str]:
        services = Services(Settings())
        return {metric.name for metric in StandCollector(services, Scrapes()).collect()}

    return trio.run(collect)


def test_the_grafana_dashboard_asks_only_for_what_the_stand_exports() -> None:
    dashboard = json.loads((ROOT / "compose" / "grafana" / "dashboards" /
                            "qakit-trio.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"]
                   for target in panel["targets"]]
    assert len(expressions) >= 8
    used = {re.sub(r"_(bucket|total|count|sum)$", "", name) for expr in expressions
            for name in re.findall(r"\b(qakit_[a-z_]+)", expr)}
    assert used <= exported_metrics(), used - exported_metrics()
    assert {"qakit_connections", "qakit_requests", "qakit_request_duration_seconds",
            "qakit_slow_consumer_evictions", "qakit_kafka_records"} <= used
    datasource = yaml.safe_load((ROOT / "compose" / "grafana" / "provisioning" /
                                 "datasources" / "prometheus.yml").read_text())
    uids = {panel["datasource"]["uid"] for panel in dashboard["panels"]}
    assert uids == {datasource["datasources"][0]["uid"]}


def test_filebeat_decodes_the_stands_json_lines() -> None:
    filebeat = yaml.safe_load((ROOT / "compose" / "filebeat.yml").read_text())
    [provider] = filebeat["filebeat.autodiscover"]["providers"]
    [template] = provider["templates"]
    assert template["condition"]["equals"]["docker.container.name"] == "qa_websocket"
    [source] = template["config"]
    assert source["type"] == "filestream"
    [container, ndjson] = source["parsers"]
    assert container["container"]["stream"] == "stdout"
    # the stand's ECS line at the top level, dotted keys expanded, its @timestamp kept
    assert ndjson["ndjson"] == {"target": "", "overwrite_keys": True, "add_error_key": True,
                                "expand_keys": True}
    assert filebeat["output.elasticsearch"]["hosts"] == ["http://elasticsearch:9200"]
