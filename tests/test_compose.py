"""The compose stand (compose.yaml, compose/): it cannot run here (no container engine), so it
is checked as far as the tools allow: `docker-compose config` (Debian's docker-compose),
every file it mounts exists, Prometheus's `promtool check config`, HAProxy's `haproxy -c`, and
the Grafana dashboard asks only for metrics the stand exports. Two qakit-trio instances, alike
but for their name, behind HAProxy (health checks on /health, WebSocket tunnels, the trainees'
ports); the light stand by default and Kibana's side with `--profile full`; Filebeat's paths
under Docker and under podman (podman creates a container as compose asks and says where its
log goes); kibana-setup's script run against a fake Kibana that answers as Kibana's data views
API is documented to. The same shape from real parts runs in tests/cluster_system/."""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import trio
import yaml

from qakit_trio.config import KNOWN_VARIABLES, Settings
from qakit_trio.services import Services
from qakit_trio.web.metrics import Scrapes, StandCollector
from qakit_trio.wire.origins import HostRule

from .support import fake_kibana, haproxy
from .support.pg import installed
from .support.timeouts import LOAD_TIMEOUT, SERVICE_TIMEOUT

pytestmark = pytest.mark.system  # docker-compose, promtool, haproxy, podman (apt-get if missing)

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
INSTANCES = ["qakit-1", "qakit-2"]  # the qakit-trio instances, behind haproxy
LIGHT = {*INSTANCES, "haproxy", "postgres", "kafka", "kafka-ui", "prometheus", "grafana"}
FULL = {"elasticsearch", "kibana", "filebeat", "kibana-setup"}  # with --profile full
SETUP = ROOT / "compose" / "kibana"
HAPROXY = ROOT / "compose" / "haproxy" / "haproxy.cfg"
BACKEND = {  # health checks, and the header that names the instance
    "option httpchk GET /health",
    "http-check send ver HTTP/1.1 hdr Host localhost",
    "http-check expect status 200",
    "http-response set-header X-Served-By %[srv_name]",
}
DEFAULTS = {"mode http", "timeout tunnel 1h", "retries 3", "option redispatch 1"}  # WebSockets


def compose(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [installed("docker-compose", "docker-compose"), "-f", str(COMPOSE), *args],
        capture_output=True,
        text=True,
        timeout=SERVICE_TIMEOUT,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def config(env: dict[str, str] | None = None) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(compose("config", env=env))
    return loaded


def test_the_compose_file_validates_and_describes_the_whole_stand() -> None:
    services = config()["services"]
    assert set(services) == LIGHT | FULL
    for name in ("qakit-1", "qakit-2", "postgres", "kafka", "elasticsearch"):
        assert services[name]["healthcheck"]["test"], name
    assert services["kibana"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    front = services["haproxy"]
    assert front["container_name"] == "qa_websocket"  # the guides' name: the stand's entrance
    assert {(p["target"], int(p["published"])) for p in front["ports"]} >= {
        (8002, 8002),  # the trainees' ports, as before: now HAProxy's
        (8000, 8000),
    }


def test_two_instances_alike_but_for_their_name_share_one_database_and_one_kafka() -> None:
    services = config()["services"]
    first, second = (services[name] for name in INSTANCES)
    for name, stand in zip(INSTANCES, (first, second), strict=True):
        assert stand["build"]["dockerfile"] == "Containerfile"
        assert stand["image"] == "qakit-trio:local"
        assert stand["container_name"] == stand["hostname"] == name  # Prometheus's Host
        assert stand["environment"]["QAKIT_INSTANCE_ID"] == name
        assert stand["environment"]["QAKIT_CLUSTER"] == "kafka"
        assert "ports" not in stand  # reached through HAProxy (and Prometheus, directly)
        assert stand["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "kafka": {"condition": "service_healthy"},
        }
        assert "/health" in " ".join(stand["healthcheck"]["test"])
        # the stand's settings are ones it knows (an unknown QAKIT_ one stops it at start-up)
        assert set(stand["environment"]) <= set(KNOWN_VARIABLES)
    assert {**first, "container_name": "", "hostname": "", "environment": {}} == {
        **second,
        "container_name": "",
        "hostname": "",
        "environment": {},
    }
    one, other = (dict(stand["environment"]) for stand in (first, second))
    assert one.pop("QAKIT_INSTANCE_ID") != other.pop("QAKIT_INSTANCE_ID")
    assert one == other  # the same DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, bus topic, ...
    assert {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "QAKIT_CLUSTER_TOPIC"} <= set(one)
    # Kafka UI reads the Kafka the bus topic is on
    kafka_ui = services["kafka-ui"]["environment"]
    assert kafka_ui["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == one["KAFKA_BOOTSTRAP_SERVERS"]


def sections(text: str) -> dict[str, list[str]]:
    """HAProxy's config: each section's header (`backend qakit`) and its lines, no comments."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line and not line[0].isspace():
            current = found.setdefault(" ".join(line.split()), [])
        elif line.strip():
            current.append(" ".join(line.split()))
    return found


def test_haproxy_is_valid_and_balances_both_instances_with_health_checks() -> None:
    done = subprocess.run(
        [installed("haproxy", "haproxy"), "-c", "-f", str(HAPROXY)],
        capture_output=True,
        text=True,
        timeout=SERVICE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # its only complaints: the instances' names resolve in the stand's network, not here
    warnings = [line for line in done.stderr.splitlines() if "[WARNING]" in line]
    assert all("could not resolve address" in line for line in warnings), warnings
    front = config()["services"]["haproxy"]
    [volume] = front["volumes"]
    source, target = str(volume).split(":")[:2]
    assert (Path(source), target) == (HAPROXY.parent, "/usr/local/etc/haproxy")
    assert front["image"].startswith("haproxy:")
    assert set(front["depends_on"]) == set(INSTANCES)
    cfg = sections(HAPROXY.read_text())
    published = {int(p["published"]) for p in front["ports"]}
    assert {f"bind :{port}" for port in (8002, 8000)} <= set(cfg["frontend stand"])
    assert {int(line.rsplit(":", 1)[1]) for line in cfg["frontend stats"] if "bind" in line} <= (
        published
    )
    backend = cfg["backend qakit"]
    assert [line.split()[1:] for line in backend if line.startswith("server ")] == [
        [name, name]
        for name in INSTANCES  # no port: the one the client came to
    ]
    assert "balance leastconn" in backend
    [defaults] = [line.split() for line in backend if line.startswith("default-server ")]
    assert "check" in defaults
    assert defaults[defaults.index("port") + 1] == "8002"  # as the instances' own healthcheck
    # what the suite's balancer (tests/support/haproxy.py) runs with, the stand has too
    generated = sections(haproxy.config(1, Path("/s"), {"qakit-1": "http://h:1"}, "leastconn"))
    assert set(generated["backend qakit"]) & set(backend) >= BACKEND
    assert set(generated["defaults"]) & set(cfg["defaults"]) >= DEFAULTS


def test_every_mounted_file_exists() -> None:
    # docker-compose 1.29 prints a volume as "SOURCE:TARGET:MODE", the source made absolute
    sources = [
        str(volume).split(":", 1)[0]
        for service in config()["services"].values()
        for volume in service.get("volumes", [])
    ]
    mounts = [source for source in sources if source.startswith(str(ROOT))]
    # filebeat.yml, prometheus.yml, grafana's two, compose/kibana, compose/haproxy
    assert len(mounts) == 6
    for source in mounts:
        assert Path(source).exists(), source


def test_prometheus_configuration_is_valid_and_scrapes_the_stand() -> None:
    path = ROOT / "compose" / "prometheus.yml"
    done = subprocess.run(
        [installed("promtool", "prometheus"), "check", "config", str(path)],
        capture_output=True,
        text=True,
        timeout=SERVICE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [job] = yaml.safe_load(path.read_text())["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    # each instance itself, not HAProxy (which would answer for either)
    assert job["static_configs"][0]["targets"] == [f"{name}:8002" for name in INSTANCES]
    # the Host Prometheus sends is one each answers by default (its host name, as compose
    # sets it; the image listens on 0.0.0.0): QAKIT_ALLOWED_HOSTS, wire/origins.py
    for name in INSTANCES:
        stand = config()["services"][name]
        hosts = HostRule.of(None, ["0.0.0.0:8002", "0.0.0.0:8000"], stand["hostname"])
        assert hosts.permits(f"{name}:8002")


def exported_metrics() -> set[str]:
    async def collect() -> set[str]:
        services = Services(Settings())
        return {metric.name for metric in StandCollector(services, Scrapes()).collect()}

    return trio.run(collect)


def test_the_grafana_dashboard_asks_only_for_what_the_stand_exports() -> None:
    dashboard = json.loads(
        (ROOT / "compose" / "grafana" / "dashboards" / "qakit-trio.json").read_text()
    )
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(expressions) >= 8
    used = {
        re.sub(r"_(bucket|total|count|sum)$", "", name)
        for expr in expressions
        for name in re.findall(r"\b(qakit_[a-z_]+)", expr)
    }
    assert used <= exported_metrics(), used - exported_metrics()
    assert {
        "qakit_connections",
        "qakit_requests",
        "qakit_request_duration_seconds",
        "qakit_slow_consumer_evictions",
        "qakit_kafka_records",
    } <= used
    datasource = yaml.safe_load(
        (
            ROOT / "compose" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
        ).read_text()
    )
    uids = {panel["datasource"]["uid"] for panel in dashboard["panels"]}
    assert uids == {datasource["datasources"][0]["uid"]}


def test_filebeat_decodes_the_stands_json_lines() -> None:
    filebeat = yaml.safe_load((ROOT / "compose" / "filebeat.yml").read_text())
    [provider] = filebeat["filebeat.autodiscover"]["providers"]
    [template] = provider["templates"]
    services = config()["services"]
    names = [equals["equals"]["docker.container.name"] for equals in template["condition"]["or"]]
    assert names == [services[name]["container_name"] for name in INSTANCES]  # not HAProxy's
    [source] = template["config"]
    assert source["type"] == "filestream"
    [container, ndjson] = source["parsers"]
    assert container["container"]["stream"] == "stdout"
    # the stand's ECS line at the top level, dotted keys expanded, its @timestamp kept
    assert ndjson["ndjson"] == {
        "target": "",
        "overwrite_keys": True,
        "add_error_key": True,
        "expand_keys": True,
    }
    assert filebeat["output.elasticsearch"]["hosts"] == ["http://elasticsearch:9200"]


def test_the_light_stand_by_default_and_kibanas_side_with_the_full_profile() -> None:
    services = config()["services"]
    profiles = {name: service.get("profiles", []) for name, service in services.items()}
    assert {name for name, names in profiles.items() if not names} == LIGHT
    assert {name for name, names in profiles.items() if names == ["full"]} == FULL
    assert compose("config", "--profiles").split() == ["full"]
    # `docker compose up` starts the light stand alone: none of it waits for the full profile
    for name in LIGHT:
        assert not set(services[name].get("depends_on", {})) & FULL, name


def test_kibana_setup_runs_once_kibana_is_healthy() -> None:
    services = config()["services"]
    kibana, setup = services["kibana"], services["kibana-setup"]
    assert "/api/status" in " ".join(kibana["healthcheck"]["test"])
    assert setup["depends_on"] == {"kibana": {"condition": "service_healthy"}}
    assert setup["restart"] == "no"  # one-shot
    assert setup["environment"]["KIBANA_URL"] == "http://kibana:5601"
    [volume] = setup["volumes"]
    source, target = str(volume).split(":")[:2]
    assert (Path(source), target) == (SETUP, "/setup")
    assert setup["entrypoint"] == ["sh", "/setup/setup-data-view.sh"]
    assert (SETUP / "setup-data-view.sh").exists()


def test_the_data_view_is_kibanas_documented_request_over_filebeats_indices() -> None:
    body = json.loads((SETUP / "data-view.json").read_text())
    assert set(body) <= {"data_view", "override"}
    view = body["data_view"]
    assert set(view) <= fake_kibana.DATA_VIEW_FIELDS
    assert view["title"] == "qa-websocket-*"
    filebeat = yaml.safe_load((ROOT / "compose" / "filebeat.yml").read_text())
    today = filebeat["output.elasticsearch"]["index"].replace("%{+yyyy.MM.dd}", "2025.01.31")
    assert fnmatch.fnmatchcase(today, view["title"])
    assert filebeat["setup.template.pattern"] == view["title"]
    assert view["timeFieldName"] == "@timestamp"  # every ECS line the stand writes has it
    assert view["allowNoIndex"] is True  # it may be made before Filebeat's first line
    script = (SETUP / "setup-data-view.sh").read_text()
    assert f"VIEW={view['id']} " in script  # the id it looks for and makes the default


async def run_setup(url: str, tries: int = 20) -> subprocess.CompletedProcess[bytes]:
    return await trio.run_process(
        ["sh", str(SETUP / "setup-data-view.sh")],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env={**os.environ, "KIBANA_URL": url, "KIBANA_TRIES": str(tries), "KIBANA_PAUSE": "0"},
    )


async def test_kibana_setup_waits_makes_the_data_view_once_and_the_default() -> None:
    installed("curl", "curl")
    kibana = fake_kibana.Kibana(starting=2)  # two 503s: Kibana still starting
    body = json.loads((SETUP / "data-view.json").read_text())
    with fake_kibana.serving(kibana) as url, trio.fail_after(SERVICE_TIMEOUT):
        first = await run_setup(url)
        assert first.returncode == 0, first.stderr.decode()
        assert kibana.status_asked == 3
        assert kibana.views == {"qa-websocket": body["data_view"]}
        assert kibana.default == "qa-websocket"
        kibana.default = "someone-elses"  # a teacher picked another view meanwhile
        second = await run_setup(url)
    assert second.returncode == 0, second.stderr.decode()
    assert [write.path for write in kibana.writes] == [
        "/api/data_views/data_view",
        "/api/data_views/default",
        "/api/data_views/default",
    ]
    assert kibana.writes[0].body == body
    assert kibana.writes[1].body == {"data_view_id": "qa-websocket", "force": True}
    assert kibana.views == {"qa-websocket": body["data_view"]}  # not made twice
    assert kibana.default == "qa-websocket"  # Discover opens on the stand's logs again
    assert b"is there already" in second.stdout


async def test_kibana_setup_gives_up_on_a_kibana_that_never_starts() -> None:
    kibana = fake_kibana.Kibana(starting=float("inf"))
    with fake_kibana.serving(kibana) as url, trio.fail_after(SERVICE_TIMEOUT):
        done = await run_setup(url, tries=3)
    assert done.returncode == 1
    assert b"is not available after 3 tries" in done.stderr
    assert (kibana.status_asked, kibana.writes) == (3, [])


def test_filebeat_mounts_dockers_logs_by_default_and_podmans_when_told() -> None:
    docker = config()["services"]["filebeat"]["volumes"]
    assert "/var/lib/docker/containers:/container-logs:ro" in docker
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in docker
    podman = {
        "CONTAINER_LOG_DIR": "/var/lib/containers/storage/overlay-containers",
        "CONTAINER_SOCKET": "/run/podman/podman.sock",
    }
    volumes = config(podman)["services"]["filebeat"]["volumes"]
    assert "/var/lib/containers/storage/overlay-containers:/container-logs:ro" in volumes
    assert "/run/podman/podman.sock:/var/run/docker.sock:ro" in volumes


def podman(root: Path, run: str, *args: str) -> str:
    """podman with a storage of its own (vfs: no overlayfs needed), not the machine's."""
    done = subprocess.run(
        [
            installed("podman", "podman"),
            "--root",
            str(root),
            "--runroot",
            run,
            "--storage-driver",
            "vfs",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=LOAD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_filebeat_reads_the_stands_log_under_docker_and_under_podman(tmp_path: Path) -> None:
    """podman creates a container with the log driver compose gives the stand (it runs none
    here) and says where its stdout goes; under the CONTAINER_LOG_DIR docs/full-stand.md
    computes, that file is one of Filebeat's paths, and Docker's json-file log the other."""
    driver = config()["services"]["qakit-1"]["logging"]["driver"]
    (tmp_path / "empty.tar").write_bytes(bytes(1024))  # a tar archive with nothing in it
    with tempfile.TemporaryDirectory(prefix="qakit-podman-") as run:  # podman: <= 50 characters
        engine = (tmp_path / "storage", run)
        podman(*engine, "import", str(tmp_path / "empty.tar"), "localhost/empty")
        container = podman(*engine, "create", "--log-driver", driver, "localhost/empty", "/none")
        log = podman(*engine, "inspect", "--format", "{{.HostConfig.LogConfig.Path}}", container)
        root, kind = podman(
            *engine, "info", "--format", "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}"
        ).split()
        podman(*engine, "rm", container)
    log_dir = f"{root}/{kind}-containers"  # docs/full-stand.md's CONTAINER_LOG_DIR
    assert log.startswith(log_dir + "/"), (log, log_dir)
    filebeat = yaml.safe_load((ROOT / "compose" / "filebeat.yml").read_text())
    [template] = filebeat["filebeat.autodiscover"]["providers"][0]["templates"]
    [source] = template["config"]
    assert source["parsers"][0]["container"]["format"] == "auto"  # Docker's JSON, podman's CRI
    mounted = tmp_path / "container-logs"  # what Filebeat sees at /container-logs
    docker_log = mounted / container / f"{container}-json.log"  # Docker's place for json-file
    podman_log = mounted / log[len(log_dir) + 1 :]
    for path in (docker_log, podman_log):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    found = [
        sorted(
            glob.glob(
                pattern.replace("/container-logs", str(mounted)).replace(
                    "${data.docker.container.id}", container
                )
            )
        )
        for pattern in source["paths"]
    ]
    assert found == [[str(docker_log)], [str(podman_log)]]
