"""The alert rules and dashboards as files: promtool loads the rules (`check rules`) and proves
the key alerts fire on synthetic series (`test rules`, deploy/prometheus/tests/); every alert
names its runbook in docs/operations.md; the dashboards are Grafana JSON tagged `enclave`
that use the provisioned data source. That their expressions return data from a real
Prometheus scraping a real Enclave: tests/ops/test_dashboards_prometheus.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ops.test_dashboards_prometheus import (
    DASHBOARDS,
    RULES,
    alert_rules,
    dashboard_expressions,
    rule_operands,
)

ROOT = Path(__file__).resolve().parents[2]
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "enclave_test.yml"
OPERATIONS = ROOT / "docs" / "operations.md"
DATASOURCE = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "enclave.yml"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool is not None
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, check=False, timeout=120
    )


@pytest.mark.prometheus
def test_promtool_checks_the_rules_clean() -> None:
    result = _promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


@pytest.mark.prometheus
def test_promtool_unit_tests_fire_the_key_alerts() -> None:
    result = _promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_unit_tests_cover_the_key_alerts() -> None:
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    key = {
        "EnclaveTargetDown",
        "EnclaveAckLatencyHigh",
        "EnclaveCeleryBacklog",
        "EnclaveFileScansFailing",
        "EnclaveBackupFailed",
        "EnclaveBackupStale",
        "EnclaveDiskSpaceLow",
        "EnclaveCertificateExpiresSoon",
        "EnclaveAddAppHostCPU",
    }
    assert key <= tested, key - tested


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#{1,6} (.+)$", markdown, re.MULTILINE)
    }


def test_every_alert_has_a_runbook_in_the_operations_guide() -> None:
    anchors = _anchors(OPERATIONS.read_text())
    assert "alerts-and-runbooks" in anchors
    for rule in alert_rules():
        annotations = rule.get("annotations", {})
        assert {"summary", "description", "runbook"} <= set(annotations), rule["alert"]
        path, _, anchor = annotations["runbook"].partition("#")
        assert path == "docs/operations.md", rule["alert"]
        assert anchor in anchors, (rule["alert"], anchor)
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}


def test_dashboards_are_tagged_and_use_the_provisioned_datasource() -> None:
    datasource = yaml.safe_load(DATASOURCE.read_text())["datasources"][0]
    names = {path.stem for path in DASHBOARDS}
    assert names == {"overview", "realtime", "database", "celery", "security"}
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert "enclave" in board["tags"], path.name
        assert board["uid"] not in uids
        uids.add(board["uid"])
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == datasource["uid"], (path.name, panel["title"])
            assert panel["targets"], (path.name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == datasource["uid"]
                assert target["expr"].strip()


def test_expressions_use_only_metrics_that_exist() -> None:
    """Every enclave_* name is one the code defines (a typo would be an empty panel)."""
    source = "".join((ROOT / "apps" / app / "metrics.py").read_text() for app in ("core", "ops"))
    names = set(re.findall(r'"(enclave_[a-z_]+)"', source))
    defined = {
        name + suffix for name in names for suffix in ("", "_total", "_bucket", "_count", "_sum")
    }
    expressions = [expr for _where, expr in dashboard_expressions()]
    expressions += [rule["expr"] for rule in alert_rules()]
    used = {name for expr in expressions for name in re.findall(r"\benclave_[a-z_]+", expr)}
    used -= {"enclave_app"}  # the label the scrape configuration gives app hosts' node exporter
    assert len(used) > 20
    assert used <= defined, used - defined


def test_rule_operands_split_at_the_top_level_only() -> None:
    assert rule_operands('up{job=~"a|b"} == 0') == ['up{job=~"a|b"}']
    assert rule_operands("pg_up == 0 or redis_up == 0") == ["pg_up", "redis_up"]
    assert rule_operands("(sum(rate(x{s=~'5..'}[5m])) or vector(0)) / sum(rate(x[5m])) > 0.02") == [
        "(sum(rate(x{s=~'5..'}[5m])) or vector(0)) / sum(rate(x[5m]))"
    ]
    assert rule_operands("absent(b{kind='backup'}) and on () count(up == 1) > 0") == [
        "b{kind='backup'}",
        "count(up == 1)",
    ]
    assert rule_operands("a > 0.1 and on () 1 - avg(c) > 0.5") == ["a", "1 - avg(c)"]
    assert rule_operands("a < 14 * 86400") == ["a"]
    assert rule_operands("max(x) > 26 * 3600 or max(y) > 50 * 3600") == ["max(x)", "max(y)"]
