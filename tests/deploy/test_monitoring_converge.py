"""monitoring.yml on a real (throwaway) Debian 12 host: the monitoring host of an inventory,
with Debian's packages from a local apt repository as the offline bundle provides them. The
first run installs and starts the node exporter, Prometheus and the blackbox exporter; the
second changes nothing; the node exporter listens on the private address only, Prometheus and
the blackbox exporter on loopback; Prometheus has loaded all of Enclave's rules, healthy, and
scrapes the node exporter with the labels the rules use.

The exporters of the database, cache and app hosts need those services running: the site.yml
convergence tests (test_converge.py) boot such hosts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.deploy.hosts import HostSet

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
REPO_CACHE = ROOT / "var" / "deploy" / "monitoring-debs"
PACKAGES = ["prometheus", "prometheus-node-exporter", "prometheus-blackbox-exporter"]
TOKEN = "converge_metrics_token_0123456789"

PROBE = """
import json, urllib.request
def get(path):
    return json.load(urllib.request.urlopen("http://127.0.0.1:9090" + path, timeout=10))
rules = [r for g in get("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
up = get("/api/v1/query?query=up%7Bjob%3D%22node%22%2Chost%21%3D%22%22%7D")["data"]["result"]
print(json.dumps({"rules": [[r["name"], r["health"]] for r in rules], "up": up}))
"""


def local_apt_repository() -> Path:
    """The packages and their dependencies as a flat apt repository (bundle/build.py's code),
    downloaded once from the mirror this machine's apt uses and kept in var/deploy/."""
    stamp = REPO_CACHE / "PACKAGES"
    if stamp.exists() and stamp.read_text() == " ".join(PACKAGES):
        return REPO_CACHE
    sys.path.insert(0, str(ROOT / "ansible" / "bundle"))
    try:
        import build
    finally:
        sys.path.pop(0)
    REPO_CACHE.mkdir(parents=True, exist_ok=True)
    for old in REPO_CACHE.glob("*.deb"):
        old.unlink()
    build.download_debs(REPO_CACHE, PACKAGES)
    build.write_apt_index(REPO_CACHE)
    stamp.write_text(" ".join(PACKAGES))
    return REPO_CACHE


def test_monitoring_playbook_converges_on_a_debian_host(deploy_hosts, tmp_path):
    repository = local_apt_repository()
    hosts: HostSet = deploy_hosts(
        names=["mon1"],
        groups={"monitoring": ["mon1"]},
        host_vars=lambda host: {"enclave_private_address": host.address},
    )
    host = hosts["mon1"]
    # The apt source enclave_common writes from the bundle (offline_repo.yml), here by hand.
    archive = tmp_path / "repo.tar"
    subprocess.run(["tar", "-C", str(repository), "-cf", str(archive), "."], check=True)
    with archive.open("rb") as stream:
        subprocess.run(
            host.ssh_argv("mkdir -p /opt/repo && tar -C /opt/repo -xf -"), stdin=stream, check=True
        )
    host.ssh(
        "echo 'deb [trusted=yes] file:/opt/repo ./' > /etc/apt/sources.list.d/bundle.list"
        " && rm -f /etc/apt/sources.list /etc/apt/sources.list.d/debian.sources"
        " && apt-get update -q"
    )
    extra = json.dumps({"vault_enclave_metrics_token": TOKEN, "enclave_bundle_dir": "/nonexistent"})
    timings = {}
    for run in ("first", "second"):
        started = time.monotonic()
        result = hosts.ansible_playbook(
            Path("monitoring.yml"), "-e", extra, cwd=ROOT / "ansible", check=False
        )
        timings[run] = time.monotonic() - started
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        recap = next(line for line in result.stdout.splitlines() if line.startswith("mon1 "))
        if run == "first":
            assert "changed=0" not in recap, recap
        else:
            assert "changed=0 " in recap, result.stdout[-6000:]
    print(f"monitoring.yml: first run {timings['first']:.1f} s, second {timings['second']:.1f} s")

    listening = host.ssh("ss -ltn").stdout
    assert f"{host.address}:9100" in listening
    assert "0.0.0.0:9100" not in listening
    assert "*:9100" not in listening
    assert "127.0.0.1:9090" in listening
    assert "127.0.0.1:9115" in listening
    token = host.ssh("stat -c '%U:%G %a' /etc/prometheus/enclave-metrics-token").stdout.strip()
    assert token == "root:prometheus 640"

    # Prometheus scrapes every 15 s: wait for the node exporter's first sample.
    deadline = time.monotonic() + 60
    while True:
        answer = subprocess.run(
            host.ssh_argv("python3 -"), input=PROBE, capture_output=True, text=True, check=True
        )
        state = json.loads(answer.stdout)
        if state["up"] or time.monotonic() > deadline:
            break
        time.sleep(2)
    rules = yaml.safe_load((ROOT / "deploy/prometheus/rules/enclave.yml").read_text())
    names = sorted(rule["alert"] for group in rules["groups"] for rule in group["rules"])
    assert sorted(name for name, _health in state["rules"]) == names
    assert {health for _name, health in state["rules"]} <= {"ok", "unknown"}
    [series] = state["up"]
    assert series["value"][1] == "1"
    assert series["metric"]["instance"] == f"{host.address}:9100"
    assert series["metric"]["host"] == "mon1"
    assert series["metric"]["enclave_app"] == "false"
