"""Fast checks of the Ansible deployment (ansible/) and the bundle script, no hosts needed:
ansible-lint (production profile), --syntax-check of every playbook with every inventory, each
role's templates rendered by Ansible itself with the defaults, the secrets check, and a bundle
built in its fast mode whose apt repository apt itself reads."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "ansible"
BIN = Path(sys.executable).parent
INVENTORIES = ["all-in-one", "three-server"]
PLAYBOOKS = ["site.yml", "upgrade.yml", "rollback.yml"]
SECRETS = {
    "vault_enclave_app_secret_key": "k" * 60,
    "vault_enclave_postgresql_password": "pg_password_0123456789",
    "vault_enclave_redis_password": "redis_password_0123456789",
    "vault_enclave_turn_secret": "turn_secret_0123456789",
    "vault_enclave_janus_api_secret": "janus_api_0123456789",
    "vault_enclave_janus_admin_secret": "janus_admin_0123456789",
}

pytestmark = pytest.mark.skipif(
    not (BIN / "ansible-playbook").exists(),
    reason="ansible-core is not installed (pip install -r requirements/local.txt)",
)


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ANSIBLE / "ansible.cfg"),
        ANSIBLE_LOCAL_TEMP=str(Path("/tmp") / "ansible-local-tmp"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=ANSIBLE, env=ansible_env(), capture_output=True, text=True, check=False, **kwargs
    )


def test_ansible_lint_production_profile_is_clean():
    result = run([str(BIN / "ansible-lint"), "--profile", "production", "--offline"])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_playbooks_pass_syntax_check(inventory):
    result = run(
        [
            str(BIN / "ansible-playbook"),
            "--syntax-check",
            "-i",
            f"inventories/{inventory}/hosts.yml",
            *PLAYBOOKS,
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for playbook in PLAYBOOKS:
        assert f"playbook: {playbook}" in result.stdout


def local_inventory(tmp_path: Path, *, apps: int = 2) -> Path:
    """localhost as the first app host (connection local, it alone runs tasks) and the database
    and cache host; more app hosts that are never contacted, so the upstream, pg_hba and the
    firewall have several to name."""
    app_hosts = {"localhost": None} | {f"app{n}": None for n in range(2, apps + 1)}
    hosts = {
        "localhost": {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "enclave_private_address": "10.0.0.11",
            # Facts are the render playbook's play variables, which other hosts cannot see.
            "enclave_web_workers": 4,
        }
    } | {
        f"app{n}": {"enclave_private_address": f"10.0.0.{10 + n}", "enclave_web_workers": 3}
        for n in range(2, apps + 1)
    }
    inventory = {
        "all": {
            "hosts": hosts,
            "children": {
                "app": {"hosts": app_hosts},
                "database": {"hosts": {"localhost": None}},
                "cache": {"hosts": {"localhost": None}},
                # Calls on both app hosts: coturn on each, Janus on the first (localhost).
                "calls": {"hosts": {"localhost": None, "app2": None}},
            },
        }
    }
    path = tmp_path / "hosts.yml"
    # In this order: a group's first host is the first listed (Janus on localhost), and
    # safe_dump sorts keys unless told not to (app2 would come first).
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


RENDER_PLAYBOOK = """
- name: Render every role's templates with the role defaults
  hosts: localhost
  gather_facts: false
  vars:
    ansible_facts: {memtotal_mb: 16000, processor_vcpus: 4, fqdn: db.example.internal}
  tasks:
    - name: Load the defaults of every role
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
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, str]:
    tmp_path = tmp_path_factory.mktemp("render")
    out = tmp_path / "out"
    out.mkdir()
    playbook = tmp_path / "render.yml"
    # The shared settings as an inventory's group_vars: below the hosts' own variables.
    shutil.copytree(ANSIBLE / "group_vars" / "all", tmp_path / "group_vars" / "all")
    playbook.write_text(RENDER_PLAYBOOK)
    extra = {
        **SECRETS,
        "defaults_files": [str(p) for p in sorted(ANSIBLE.glob("roles/*/defaults/main.yml"))],
        "template_files": [
            str(p)
            for p in sorted(ANSIBLE.glob("roles/*/templates/*.j2"))
            if p.name != "hardening.j2"
        ],
        "out_dir": str(out),
        "enclave_version": "2026.12.06-abcdef123456",
        "playbook_dir": str(ANSIBLE),
    }
    result = run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(local_inventory(tmp_path)),
            str(playbook),
            "-e",
            json.dumps(extra),
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {path.name: path.read_text() for path in out.iterdir()}


def test_every_template_renders(rendered):
    templates = {
        f"{path.parent.parent.name}--{path.name.removesuffix('.j2')}"
        for path in ANSIBLE.glob("roles/*/templates/*.j2")
        if path.name != "hardening.j2"
    }
    assert templates == set(rendered)


def test_postgresql_is_tuned_from_memory(rendered):
    conf = rendered["enclave_postgresql--enclave.conf"]
    assert "shared_buffers = 4000MB" in conf  # 25 % of 16,000 MB
    assert "effective_cache_size = 12000MB" in conf
    assert "autovacuum = on" in conf
    assert "checkpoint_timeout = 15min" in conf
    hba = rendered["enclave_postgresql--pg_hba.conf"]
    assert re.search(
        r"hostssl\s+enclave,enclave_drill\s+enclave\s+10\.0\.0\.11/32\s+scram-sha-256", hba
    )
    assert re.search(
        r"hostssl\s+enclave,enclave_drill\s+enclave\s+10\.0\.0\.12/32\s+scram-sha-256", hba
    )
    assert not re.search(r"^host\s.*(trust|md5|scram)", hba, re.MULTILINE)


def test_redis_has_a_password_and_no_persistence(rendered):
    conf = rendered["enclave_redis--redis.conf"]
    assert "requirepass redis_password_0123456789" in conf
    assert 'save ""' in conf
    assert "appendonly no" in conf
    assert "bind 127.0.0.1 -::1 10.0.0.11" in conf


def test_clamd_reports_exceeded_limits(rendered, tmp_path):
    conf = rendered["enclave_clamav--clamd.conf"]
    try:
        from apps.files.clamd import CLAMD_REQUIRED_SETTINGS  # the app's own list, when it has one
    except ImportError:
        CLAMD_REQUIRED_SETTINGS = {"AlertExceedsMax": "yes", "ScanArchive": "yes"}
    for name, value in CLAMD_REQUIRED_SETTINGS.items():
        assert re.search(rf"^{name} {value}$", conf, re.MULTILINE), name
    assert "StreamMaxLength 100M" in conf  # ENCLAVE_UPLOAD_MAX_BYTES, as local_clamd.py
    assert "MaxScanSize 400M" in conf
    if shutil.which("clamconf"):
        (tmp_path / "clamd.conf").write_text(conf)
        (tmp_path / "freshclam.conf").write_text(rendered["enclave_clamav--freshclam.conf"])
        result = subprocess.run(
            ["clamconf", "-c", str(tmp_path)], capture_output=True, text=True, check=False
        )
        assert "ERROR" not in result.stdout + result.stderr, result.stdout + result.stderr


def env_file(rendered) -> dict[str, str]:
    values = {}
    for line in rendered["enclave_app--enclave.env"].splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            assert value[0] == value[-1] == "'", line
            values[name] = value[1:-1]
    return values


def test_environment_file_sets_documented_knobs(rendered):
    values = env_file(rendered)
    documented = set(re.findall(r"#\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text()))
    assert set(values) <= documented
    assert values["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert values["ENCLAVE_FILES_X_ACCEL"] == "true"
    assert values["ENCLAVE_UPLOAD_MAX_BYTES"] == "104857600"
    import environ

    database = environ.Env.db_url_config(values["DATABASE_URL"])
    assert database["HOST"] == "10.0.0.11"
    assert database["OPTIONS"]["sslmode"] == "verify-ca"
    assert values["REDIS_URL"] == "redis://:redis_password_0123456789@10.0.0.11:6379/0"


def test_nginx_site_matches_the_app(rendered):
    site = rendered["enclave_nginx--enclave.conf"]
    values = env_file(rendered)
    # Every worker of every app host: localhost has 4 cores, app2 was given 3 workers.
    for port in (8001, 8002, 8003, 8004):
        assert f"server 10.0.0.11:{port} " in site
    assert "server 10.0.0.12:8003 " in site
    assert "server 10.0.0.12:8004 " not in site
    assert "client_max_body_size 101m;" in site
    prefix = values["ENCLAVE_FILES_X_ACCEL_PREFIX"]
    assert re.search(
        rf"location {prefix}/ {{\s+internal;\s+alias {values['ENCLAVE_FILES_ROOT']}/;", site
    )
    assert "proxy_read_timeout 3600s" in site
    assert "Strict-Transport-Security" in site


def test_units_run_the_documented_uvicorn_command(rendered):
    unit = rendered["enclave_app--enclave-web@.service"]
    readme = (ROOT / "README.md").read_text()
    for option in re.findall(
        r"(--[a-z-]+(?: [a-z0-9][a-z0-9-]*)?)", readme.split("uvicorn config.asgi")[1][:300]
    ):
        if option.startswith(("--host", "--port")):
            continue
        assert option in unit, option
    for hardening in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes"):
        assert hardening in unit
    assert "ReadWritePaths=/var/lib/enclave /srv/enclave/media" in unit


def test_firewall_names_only_app_hosts(rendered):
    rules = rendered["enclave_common--nftables.conf"]
    elements = re.search(r"set app_hosts4 \{[^}]*elements = \{ ([^}]*) \}", rules)
    assert elements
    assert sorted(elements.group(1).split(", ")) == ["10.0.0.11", "10.0.0.12"]
    assert (
        "ip saddr @app_hosts4 tcp dport { 5432, 6379, 2049, 8001-8004, 8088, 7088, 8188 } accept"
        in rules
    )
    assert "tcp dport { 80, 443 } accept" in rules


def test_calls_roles_share_the_secrets_ports_and_janus_address(rendered):
    turn = rendered["enclave_coturn--turnserver.conf"]
    for line in (
        "listening-ip=10.0.0.11",
        "listening-port=3478",
        "tls-listening-port=5349",
        "min-port=49160",
        "max-port=49999",
        "use-auth-secret",
        "static-auth-secret=turn_secret_0123456789",
        "denied-peer-ip=10.0.0.0-10.255.255.255",
        "denied-peer-ip=192.168.0.0-192.168.255.255",
        "allowed-peer-ip=10.0.0.11",
        "allowed-peer-ip=10.0.0.12",
        "no-multicast-peers",
    ):
        assert line in turn.splitlines(), line
    janus = rendered["enclave_janus--janus.jcfg"]
    assert 'api_secret = "janus_api_0123456789"' in janus
    assert 'admin_secret = "janus_admin_0123456789"' in janus
    assert "token_auth = true" in janus
    assert 'rtp_port_range = "20000-20999"' in janus
    assert "event_loops" not in janus  # a thread per handle unless enclave_janus_event_loops
    disabled = re.search(r'plugins: \{\s*disable = "([^"]*)"', janus)
    assert disabled
    assert "libjanus_echotest.so" in disabled.group(1)
    assert "videoroom" not in disabled.group(1)
    websockets = rendered["enclave_janus--janus.transport.websockets.jcfg"]
    assert "ws_port = 8188" in websockets
    assert 'ws_ip = "10.0.0.11"' in websockets
    videoroom = rendered["enclave_janus--janus.plugin.videoroom.jcfg"]
    assert 'admin_key = "janus_api_0123456789"' in videoroom
    nginx = rendered["enclave_nginx--enclave.conf"]
    assert "location /janus/ {\n        proxy_pass http://10.0.0.11:8188;" in nginx
    assert "proxy_pass http://10.0.0.11:8088/janus/info;" in nginx
    env = rendered["enclave_app--enclave.env"]
    for line in (
        "ENCLAVE_TURN_SECRET='turn_secret_0123456789'",
        "ENCLAVE_STUN_URLS='stun:chat.example.com:3478'",
        "ENCLAVE_JANUS_API_URL='http://10.0.0.11:8088/janus'",
        "ENCLAVE_JANUS_ADMIN_URL='http://10.0.0.11:7088/admin'",
        "ENCLAVE_JANUS_API_SECRET='janus_api_0123456789'",
        "ENCLAVE_JANUS_ADMIN_SECRET='janus_admin_0123456789'",
        # The VideoRoom plugin's admin_key: the app sends it when it creates a room.
        "ENCLAVE_JANUS_ADMIN_KEY='janus_api_0123456789'",
        "ENCLAVE_JANUS_PUBLIC_URL='wss://chat.example.com/janus/'",
    ):
        assert line in env.splitlines(), line
    assert "turns:chat.example.com:5349?transport=tcp" in env
    rules = rendered["enclave_common--nftables.conf"]
    assert "meta l4proto { 6, 17 } th dport { 3478, 5349 } accept" in rules
    assert "udp dport 49160-49999 accept" in rules
    assert "udp dport 20000-20999 accept" in rules


def test_helper_scripts_are_valid_python(rendered):
    for name in ("enclave-manage", "wait-ready", "error-rate"):
        compile(rendered[f"enclave_app--{name}"], name, "exec")


ERROR_RATE_WRITER = """
import sys
from prometheus_client import Counter
http = Counter("enclave_http_requests_total", "", ["route", "method", "status"])
ws = Counter("enclave_ws_operations_total", "", ["outcome"])
for route, status, count in (("readyz", "200", 50), ("metrics", "200", 7), ("api-x", "200", 9),
                             ("api-x", "500", 1)):
    http.labels(route, "GET", status).inc(count * int(sys.argv[1]))
ws.labels("ok").inc(90 * int(sys.argv[1]))
ws.labels("refused").inc(8 * int(sys.argv[1]))
ws.labels("failed").inc(2 * int(sys.argv[1]))
"""


def test_the_canary_gate_counts_the_apps_own_http_and_websocket_operations(rendered, tmp_path):
    script = tmp_path / "error-rate"
    script.write_text(rendered["enclave_app--error-rate"])
    metrics = tmp_path / "metrics"
    metrics.mkdir()

    def counters() -> dict[str, int]:
        out = run([sys.executable, str(script), "counters", str(metrics)])
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    empty = counters()
    assert empty == {"http": 0, "http_errors": 0, "ws": 0, "ws_failed": 0}
    # Two processes (two web workers) writing into the host's metrics directory.
    for factor in ("1", "2"):
        writer = subprocess.run(
            [sys.executable, "-c", ERROR_RATE_WRITER, factor],
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
            capture_output=True,
            text=True,
        )
        assert writer.returncode == 0, writer.stderr
    after = counters()
    # The probes (readyz, metrics, healthz) are the playbook's own requests: not traffic.
    assert after == {"http": 30, "http_errors": 3, "ws": 300, "ws_failed": 6}
    delta = run([sys.executable, str(script), "delta", json.dumps(empty), json.dumps(after)])
    assert json.loads(delta.stdout) == after
    # A total that went down (the directory emptied) counts from zero, never negative.
    reset = run([sys.executable, str(script), "delta", json.dumps(after), json.dumps(empty)])
    assert json.loads(reset.stdout) == empty


def test_the_canary_gate_counts_what_nginx_failed_to_pass_to_the_canary(rendered, tmp_path):
    log = tmp_path / "access.log"
    script = tmp_path / "error-rate"
    script.write_text(
        rendered["enclave_app--error-rate"].replace("/var/log/nginx/enclave-access.log", str(log))
    )
    lines = [
        {"time": "90.0", "upstream": "10.0.0.11:8001", "upstream_status": "502"},  # too early
        {"time": "100.5", "upstream": "10.0.0.11:8001", "upstream_status": "200"},
        {
            "time": "101.0",
            "upstream": "10.0.0.11:8002, 10.0.0.12:8001",
            "upstream_status": "502, 200",
        },
        {"time": "102.0", "upstream": "10.0.0.12:8001", "upstream_status": "504"},  # another host
        {"time": "103.0", "upstream": "10.0.0.11:8001", "upstream_status": "500"},  # the app's own
    ]
    log.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    out = run([sys.executable, str(script), "nginx", "100", "10.0.0.11"])
    assert json.loads(out.stdout) == {"requests": 3, "proxy_errors": 1}


def test_site_stops_clearly_without_secrets(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "VERSION").write_text("test\n")
    result = run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(local_inventory(tmp_path, apps=1)),
            "site.yml",
            "-e",
            json.dumps({"enclave_bundle_dir": str(bundle)}),
        ]
    )
    assert result.returncode != 0
    assert "A secret is missing or too weak" in result.stdout
    assert "Base of every host" not in result.stdout  # nothing ran after the check


def test_bundle_packages_cover_the_roles():
    sys.path.insert(0, str(ANSIBLE / "bundle"))
    try:
        import build
    finally:
        sys.path.pop(0)
    named: set[str] = set()
    for path in ANSIBLE.glob("roles/*/defaults/main.yml"):
        for key, value in (yaml.safe_load(path.read_text()) or {}).items():
            if key.endswith("_packages") and "build" not in key:
                named.update(value)
    for path in ANSIBLE.glob("roles/*/tasks/*.yml"):
        for task in yaml.safe_load(path.read_text()) or []:
            names = (task.get("ansible.builtin.apt") or {}).get("name")
            for name in [names] if isinstance(names, str) else names or []:
                if "{{" not in name:
                    named.add(name)
                elif "enclave_postgresql_version" in name:
                    named.add(name.replace("{{ enclave_postgresql_version }}", "15"))
    assert named <= set(build.DEBIAN_PACKAGES), named - set(build.DEBIAN_PACKAGES)


def make_deb(directory: Path) -> Path:
    package = directory / "pkg"
    (package / "DEBIAN").mkdir(parents=True)
    (package / "DEBIAN" / "control").write_text(
        "Package: enclave-bundle-test\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: Enclave <enclave@example.com>\nDescription: bundle test package\n"
    )
    (package / "usr" / "share" / "enclave-bundle-test").mkdir(parents=True)
    subprocess.run(
        ["dpkg-deb", "--build", str(package), str(directory)], check=True, capture_output=True
    )
    return next(directory.glob("*.deb"))


@pytest.mark.skipif(
    not shutil.which("dpkg-deb") or not shutil.which("apt-get"), reason="needs dpkg and apt"
)
def test_bundle_fast_mode_builds_a_verified_manifest_and_an_apt_repository(tmp_path):
    debs = tmp_path / "debs"
    debs.mkdir()
    make_deb(debs)
    output = tmp_path / "bundle"
    result = subprocess.run(
        [
            sys.executable,
            str(ANSIBLE / "bundle" / "build.py"),
            "--output",
            str(output),
            "--skip-wheels",
            "--debs-from",
            str(debs),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    bundle = (output / "current").resolve()
    version = (bundle / "VERSION").read_text().strip()
    assert bundle.name == f"enclave-{version}"
    with tarfile.open(bundle / "app.tar.gz") as archive:
        assert "manage.py" in archive.getnames()
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=bundle, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "app.tar.gz: OK" in check.stdout
    assert "debs.tar: OK" in check.stdout

    # apt itself reads the repository, as the offline hosts will (file: source, trusted).
    repo = tmp_path / "repo"
    with tarfile.open(bundle / "debs.tar") as archive:
        archive.extractall(repo, filter="data")
    state = tmp_path / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "parts"):
        (state / sub).mkdir(parents=True)
    (state / "sources.list").write_text(f"deb [trusted=yes] file:{repo} ./\n")
    options = [
        "-o",
        f"Dir::Etc::SourceList={state / 'sources.list'}",
        "-o",
        f"Dir::Etc::SourceParts={state / 'parts'}",
        "-o",
        f"Dir::State::Lists={state / 'lists'}",
        "-o",
        f"Dir::Cache={state / 'cache'}",
        "-o",
        "Debug::NoLocking=1",
    ]
    update = subprocess.run(
        ["apt-get", *options, "update"], capture_output=True, text=True, check=False
    )
    assert update.returncode == 0, update.stdout + update.stderr
    show = subprocess.run(
        ["apt-cache", *options, "policy", "enclave-bundle-test"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert f"file:{repo} ./" in show.stdout, show.stdout + show.stderr
