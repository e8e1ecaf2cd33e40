"""Fast checks of the monitoring deployment (ansible/monitoring.yml and the roles
enclave_monitoring_exporters, enclave_prometheus, enclave_grafana), no hosts needed, in the
pattern of test_ansible_static.py: ansible-lint (production profile) of what is new,
--syntax-check with both inventories, the roles' templates rendered by Ansible itself and read
by the real programs (promtool check config loads the scrape jobs and Enclave's rules,
blackbox exporter's --config.check, nginx -t for stub_status), the firewall's rule for the
monitoring host, and the token check that stops a run before it changes anything."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from tests.deploy.test_ansible_static import ANSIBLE, BIN, SECRETS, run
from tests.ops.test_dashboards_prometheus import RULES, prometheus_config

pytestmark = pytest.mark.skipif(
    not (BIN / "ansible-playbook").exists(),
    reason="ansible-core is not installed (pip install -r requirements/local.txt)",
)

ROOT = ANSIBLE.parent
NEW_ROLES = ["enclave_monitoring_exporters", "enclave_prometheus", "enclave_grafana"]
TOKEN = "metrics_token_0123456789abcdef"


def test_ansible_lint_production_profile_is_clean_for_monitoring():
    result = run(
        [
            str(BIN / "ansible-lint"),
            "--profile",
            "production",
            "--offline",
            "monitoring.yml",
            *(f"roles/{role}" for role in NEW_ROLES),
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("inventory", ["all-in-one", "three-server"])
def test_monitoring_playbook_passes_syntax_check(inventory):
    result = run(
        [
            str(BIN / "ansible-playbook"),
            "--syntax-check",
            "-i",
            f"inventories/{inventory}/hosts.yml",
            "monitoring.yml",
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("inventory", "monitoring_host"), [("all-in-one", "enclave1"), ("three-server", "app1")]
)
def test_inventories_have_a_monitoring_host(inventory, monitoring_host):
    hosts = yaml.safe_load((ANSIBLE / "inventories" / inventory / "hosts.yml").read_text())
    children = hosts["all"]["children"]
    assert list(children["monitoring"]["hosts"]) == [monitoring_host]
    assert monitoring_host in children["app"]["hosts"]


def test_site_imports_monitoring_last_and_the_vault_example_names_its_secrets():
    site = yaml.safe_load((ANSIBLE / "site.yml").read_text())
    assert site[-1]["ansible.builtin.import_playbook"] == "monitoring.yml"
    example = yaml.safe_load((ANSIBLE / "vault.yml.example").read_text())
    assert {"vault_enclave_metrics_token", "vault_enclave_grafana_admin_password"} <= set(example)


def monitoring_inventory(tmp_path: Path) -> Path:
    """localhost: app, database, cache and monitoring host (it alone runs tasks); app2 and db
    names that are never contacted, so targets and the firewall have several hosts to name."""
    hosts = {
        "localhost": {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "enclave_private_address": "10.0.0.11",
            "enclave_web_workers": 4,
        },
        "app2": {"enclave_private_address": "10.0.0.12", "enclave_web_workers": 2},
        "db2": {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "enclave_private_address": "fd00::21",
            "enclave_web_workers": 2,
        },
    }
    inventory = {
        "all": {
            "hosts": hosts,
            "children": {
                "app": {"hosts": {"localhost": None, "app2": None}},
                "database": {"hosts": {"localhost": None}},
                "cache": {"hosts": {"localhost": None}},
                "monitoring": {"hosts": {"localhost": None}},
                "other": {"hosts": {"db2": None}},
            },
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


RENDER_PLAYBOOK = """
- name: Render the monitoring roles' templates (and the firewall and app environment)
  hosts: localhost
  gather_facts: false
  vars:
    ansible_facts: {memtotal_mb: 16000, processor_vcpus: 4, fqdn: app1.example.internal}
  tasks:
    - name: Load the roles' defaults
      ansible.builtin.include_vars:
        file: "{{ item }}"
      loop: "{{ defaults_files }}"
    - name: Render
      ansible.builtin.template:
        src: "{{ item }}"
        dest: "{{ out_dir }}/{{ item | dirname | dirname | basename }}--{{ item | basename
          | regex_replace('\\\\.j2$', '') }}"
        mode: "0644"
      loop: "{{ template_files }}"
      vars:
        enclave_monitoring_exporters_environment: {ARGS: "--web.listen-address=10.0.0.11:9100"}

- name: Render the firewall of an app, database and cache host and of another host
  hosts: localhost:db2
  gather_facts: false
  vars:
    ansible_facts: {memtotal_mb: 16000, processor_vcpus: 4, fqdn: app1.example.internal}
  tasks:
    - name: Load the common role's defaults
      ansible.builtin.include_vars:
        file: "{{ common_defaults }}"
    - name: Render
      ansible.builtin.template:
        src: "{{ nftables_template }}"
        dest: "{{ out_dir }}/nftables-{{ inventory_hostname }}.conf"
        mode: "0644"
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, str]:
    tmp_path = tmp_path_factory.mktemp("render-monitoring")
    out, config_dir = tmp_path / "out", tmp_path / "etc-prometheus"
    out.mkdir()
    (config_dir / "rules").mkdir(parents=True)
    shutil.copy(RULES, config_dir / "rules" / "enclave.yml")
    (config_dir / "enclave-metrics-token").write_text(TOKEN)
    (tmp_path / "group_vars" / "all").mkdir(parents=True)
    for name in ("vars.yml", "monitoring.yml"):
        shutil.copy(ANSIBLE / "group_vars" / "all" / name, tmp_path / "group_vars" / "all")
    playbook = tmp_path / "render.yml"
    playbook.write_text(RENDER_PLAYBOOK)
    roles = [*NEW_ROLES, "enclave_common", "enclave_app"]
    templates = [
        path
        for role in NEW_ROLES
        for path in sorted((ANSIBLE / "roles" / role / "templates").glob("*.j2"))
    ]
    templates.append(ANSIBLE / "roles" / "enclave_app" / "templates" / "enclave.env.j2")
    extra = {
        **SECRETS,
        "vault_enclave_metrics_token": TOKEN,
        "vault_enclave_grafana_admin_password": "grafana_password_0123456789",
        "defaults_files": [
            str(ANSIBLE / "roles" / role / "defaults" / "main.yml") for role in roles
        ],
        "template_files": [str(path) for path in templates],
        "nftables_template": str(ANSIBLE / "roles/enclave_common/templates/nftables.conf.j2"),
        "out_dir": str(out),
        "enclave_prometheus_config_dir": str(config_dir),
        "common_defaults": str(ANSIBLE / "roles/enclave_common/defaults/main.yml"),
        "enclave_version": "2026.12.07-abcdef123456",
        "enclave_bundle_dir": str(tmp_path / "bundle"),
        "playbook_dir": str(ANSIBLE),
    }
    result = run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(monitoring_inventory(tmp_path)),
            str(playbook),
            "-e",
            json.dumps(extra),
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    files = {path.name: path.read_text() for path in out.iterdir()}
    files["config_dir"] = str(config_dir)
    return files


def test_every_monitoring_template_renders(rendered):
    for role in NEW_ROLES:
        for path in (ANSIBLE / "roles" / role / "templates").glob("*.j2"):
            assert f"{role}--{path.name.removesuffix('.j2')}" in rendered


def test_prometheus_config_loads_in_promtool_with_enclaves_rules(rendered, tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("needs promtool (apt-get install prometheus)")
    config = Path(rendered["config_dir"]) / "prometheus.yml"
    text = rendered["enclave_prometheus--prometheus.yml"]
    config.write_text(text)
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr


def test_scrape_jobs_are_the_ones_the_rules_and_the_live_test_use(rendered):
    config = yaml.safe_load(rendered["enclave_prometheus--prometheus.yml"])
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    live = {job["job_name"] for job in prometheus_config(defaultdict(lambda: 1))["scrape_configs"]}
    assert set(jobs) == live
    rule_jobs = set(re.findall(r'job="([a-z]+)"', RULES.read_text()))
    rule_jobs |= set(re.search(r'job=~"([a-z|]+)"', RULES.read_text()).group(1).split("|"))
    assert rule_jobs <= set(jobs)

    def targets(job):
        return [
            (target, group.get("labels", {}))
            for group in jobs[job]["static_configs"]
            for target in group["targets"]
        ]

    # Enclave: every app host's nginx monitoring port, with the token from the vault.
    assert sorted(t for t, _ in targets("enclave")) == ["10.0.0.11:9119", "10.0.0.12:9119"]
    assert jobs["enclave"]["authorization"]["credentials_file"].endswith("enclave-metrics-token")
    # Node exporters everywhere; app hosts labelled for the capacity alerts.
    assert sorted(targets("node")) == [
        ("10.0.0.11:9100", {"host": "localhost", "enclave_app": "true"}),
        ("10.0.0.12:9100", {"host": "app2", "enclave_app": "true"}),
        ("[fd00::21]:9100", {"host": "db2", "enclave_app": "false"}),
    ]
    assert [t for t, _ in targets("postgres")] == ["10.0.0.11:9187"]
    assert [t for t, _ in targets("redis")] == ["10.0.0.11:9121"]
    assert sorted(t for t, _ in targets("nginx")) == ["10.0.0.11:9113", "10.0.0.12:9113"]
    assert sorted(t for t, _ in targets("tls")) == [
        "https://10.0.0.11:443/nginx-healthz",
        "https://10.0.0.12:443/nginx-healthz",
    ]
    assert jobs["tls"]["params"]["module"] == ["enclave_tls"]


def test_prometheus_listens_on_loopback_and_keeps_the_retention(rendered):
    default = rendered["enclave_prometheus--prometheus.default"]
    assert "--web.listen-address=127.0.0.1:9090" in default
    assert "--storage.tsdb.retention.time=30d" in default


def test_blackbox_module_is_valid(rendered, tmp_path):
    config = yaml.safe_load(rendered["enclave_prometheus--blackbox.yml"])
    module = config["modules"]["enclave_tls"]
    assert module["http"]["tls_config"]["server_name"] == "chat.example.com"
    assert module["http"]["tls_config"]["insecure_skip_verify"] is False
    blackbox = shutil.which("prometheus-blackbox-exporter")
    if blackbox is None:
        pytest.skip("needs prometheus-blackbox-exporter")
    (tmp_path / "blackbox.yml").write_text(rendered["enclave_prometheus--blackbox.yml"])
    result = subprocess.run(
        [blackbox, f"--config.file={tmp_path / 'blackbox.yml'}", "--config.check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_nginx_serves_stub_status_on_loopback_and_metrics_as_the_app_wants(rendered, tmp_path):
    site = rendered["enclave_monitoring_exporters--enclave-monitoring.conf"]
    assert "listen 127.0.0.1:9180;" in site
    assert "listen 10.0.0.11:9119;" in site
    # The app's production settings: only enclave_domain, and HTTPS as nginx says it.
    assert "proxy_set_header Host chat.example.com;" in site
    assert "proxy_set_header X-Forwarded-Proto https;" in site
    assert "X-Forwarded-For" not in site  # a forwarded request would be judged by token anyway
    workers = re.findall(r"server 10\.0\.0\.11:(\d+) ", site)
    assert workers == ["8001", "8002", "8003", "8004"]
    nginx = shutil.which("nginx")
    if nginx is None:
        pytest.skip("needs nginx")
    (tmp_path / "monitoring.conf").write_text(site.replace("10.0.0.11", "127.0.0.1"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{ include {tmp_path}/monitoring.conf; }}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_exporters_listen_on_the_private_address(rendered):
    assert (
        'ARGS="--web.listen-address=10.0.0.11:9100"'
        in (rendered["enclave_monitoring_exporters--exporter.default"])
    )


def test_firewall_opens_the_scrape_ports_to_the_monitoring_host_only(rendered):
    app_db_cache = rendered["nftables-localhost.conf"]
    assert "ip saddr 10.0.0.11 tcp dport { 9100, 9187, 9121, 9113, 9119 } accept" in app_db_cache
    other = rendered["nftables-db2.conf"]
    assert "ip saddr 10.0.0.11 tcp dport { 9100 } accept" in other
    for rules in (app_db_cache, other):
        for line in rules.splitlines():
            if re.search(r"\b(9100|9187|9121|9113|9119)\b", line):
                assert line.strip().startswith("ip saddr 10.0.0.11 "), line


def test_app_environment_carries_the_token_and_the_metrics_directory(rendered):
    env = rendered["enclave_app--enclave.env"]
    assert f"ENCLAVE_METRICS_TOKEN='{TOKEN}'" in env
    assert "ENCLAVE_METRICS_DIR='/var/lib/enclave/metrics'" in env


def test_grafana_is_air_gapped_and_bound_to_the_private_address(rendered):
    ini = rendered["enclave_grafana--grafana.ini"]
    assert "http_addr = 10.0.0.11" in ini
    assert "admin_password = grafana_password_0123456789" in ini
    for line in ("reporting_enabled = false", "check_for_updates = false", "allow_sign_up = false"):
        assert line in ini


def test_monitoring_stops_clearly_without_the_metrics_token(tmp_path):
    result = run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(monitoring_inventory(tmp_path)),
            "monitoring.yml",
            "--limit",
            "localhost",
        ]
    )
    assert result.returncode != 0
    assert "put vault_enclave_metrics_token" in result.stdout
    assert "Exporters on every host" not in result.stdout  # nothing ran after the check
