"""The example customer pipelines (deploy/ci/): GitLab CI's YAML parses, every job has a stage
that `stages` declares, only GitLab's job keywords, `needs` that point backwards, and a manual
gate before production; Jenkins' declarative pipeline has its stages in order with an `input`
gate. Both run the suite, build the bundle and deploy with upgrade.yml; their shell lines pass
`bash -n`, and their ansible-playbook command lines, run here with --syntax-check against the
all-in-one inventory, are accepted by Ansible."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GITLAB = ROOT / "deploy" / "ci" / "gitlab-ci.yml"
JENKINSFILE = ROOT / "deploy" / "ci" / "Jenkinsfile"
BIN = Path(sys.executable).parent

# GitLab's global keywords and job keywords (docs.gitlab.com/ci/yaml/).
GLOBAL_KEYWORDS = {"default", "include", "stages", "variables", "workflow", "spec"}
JOB_KEYWORDS = {
    *("after_script", "allow_failure", "artifacts", "before_script", "cache", "coverage"),
    *("dast_configuration", "dependencies", "environment", "extends", "hooks", "identity"),
    *("id_tokens", "image", "inherit", "interruptible", "manual_confirmation", "needs"),
    *("pages", "parallel", "release", "resource_group", "retry", "rules", "run", "script"),
    *("secrets", "services", "stage", "tags", "timeout", "trigger", "variables", "when"),
}
RULE_KEYWORDS = {"if", "changes", "exists", "when", "allow_failure", "variables", "needs"}


def gitlab() -> dict:
    return yaml.safe_load(GITLAB.read_text())


def gitlab_jobs() -> dict[str, dict]:
    """Jobs with `extends` resolved (one level deep is all the file uses)."""
    config = gitlab()
    jobs = {}
    for name, job in config.items():
        if name in GLOBAL_KEYWORDS or name.startswith("."):
            continue
        resolved = dict(config[job["extends"]]) if "extends" in job else {}
        resolved.update(job)
        jobs[name] = resolved
    return jobs


def test_gitlab_jobs_use_declared_stages_and_known_keywords():
    config = gitlab()
    stages = config["stages"]
    assert stages == ["test", "bundle", "staging", "production"]
    jobs = gitlab_jobs()
    assert set(jobs) == {"test", "bundle", "deploy_staging", "deploy_production"}
    for name, job in {**jobs, **{k: v for k, v in config.items() if k.startswith(".")}}.items():
        assert set(job) <= JOB_KEYWORDS, (name, set(job) - JOB_KEYWORDS)
        for rule in job.get("rules", []):
            assert set(rule) <= RULE_KEYWORDS, (name, rule)
            assert rule.get("when", "on_success") in {"on_success", "manual", "never", "always"}
    for name, job in jobs.items():
        assert job["stage"] in stages, name
        assert job["script"], name
        for need in job.get("needs", []):
            assert need in jobs, (name, need)
            assert stages.index(jobs[need]["stage"]) <= stages.index(job["stage"]), (name, need)
    assert set(config["default"]) <= JOB_KEYWORDS


def test_gitlab_gates_production_by_hand_after_staging():
    jobs = gitlab_jobs()
    production = jobs["deploy_production"]
    assert "deploy_staging" in production["needs"]
    assert production["rules"], "production must only run by hand"
    for rule in production["rules"]:
        assert rule["when"] == "manual"
        assert rule["allow_failure"] is False  # the pipeline waits instead of passing it by
    assert production["environment"]["name"] == "production"
    assert jobs["deploy_staging"]["environment"]["name"] == "staging"
    assert "when" not in jobs["deploy_staging"]


def test_gitlab_runs_the_suite_builds_the_bundle_and_deploys_with_the_canary_upgrade():
    jobs = gitlab_jobs()
    assert jobs["test"]["script"] == ["bash .ci/run"]
    assert any(line.startswith("make bundle") for line in jobs["bundle"]["script"])
    for name in ("deploy_staging", "deploy_production"):
        commands = [line for line in jobs[name]["script"] if "ansible-playbook" in line]
        assert [shlex.split(line)[3] for line in commands] == ["upgrade.yml", "monitoring.yml"]


def jenkins_stages() -> list[tuple[str, str]]:
    """(name, body) of each stage('...') { ... } block, by brace matching outside strings."""
    text = JENKINSFILE.read_text()
    found = []
    for match in re.finditer(r"stage\('([^']+)'\)\s*\{", text):
        depth, index, quote = 1, match.end(), ""
        while depth:
            char = text[index]
            if quote:
                if char == "\\":
                    index += 1
                elif char == quote:
                    quote = ""
            elif char in "'\"":
                quote = char
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
            index += 1
        found.append((match.group(1), text[match.end() : index - 1]))
    return found


def test_jenkinsfile_is_balanced_and_its_stages_gate_production():
    text = JENKINSFILE.read_text()
    code = re.sub(r"//[^\n]*", "", re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", "''", text))
    for opening, closing in ("{}", "()", "[]"):
        assert code.count(opening) == code.count(closing), opening
    assert code.lstrip().startswith("pipeline {")
    stages = jenkins_stages()
    assert [name for name, _ in stages] == [
        "Test",
        "Bundle",
        "Deploy to staging",
        "Approve production",
        "Deploy to production",
    ]
    bodies = dict(stages)
    assert "sh 'bash .ci/run'" in bodies["Test"]
    assert "make bundle" in bodies["Bundle"]
    assert re.search(r"\binput message:", bodies["Approve production"])
    assert "input" not in bodies["Deploy to production"]
    for name in ("Deploy to staging", "Deploy to production"):
        assert re.findall(r"ansible-playbook .*? (\w+\.yml)", bodies[name]) == [
            "upgrade.yml",
            "monitoring.yml",
        ]


def _shell_lines() -> list[str]:
    lines = [line for job in gitlab_jobs().values() for line in job["script"]]
    lines += re.findall(r"\bsh '([^']*)'", JENKINSFILE.read_text())
    return lines


def test_every_shell_line_parses_in_bash():
    for line in _shell_lines():
        result = subprocess.run(["bash", "-n", "-c", line], capture_output=True, text=True)
        assert result.returncode == 0, (line, result.stderr)


@pytest.mark.skipif(not (BIN / "ansible-playbook").exists(), reason="needs ansible-core")
def test_deploy_command_lines_are_accepted_by_ansible(tmp_path):
    """Each ansible-playbook line as the pipelines run it, plus --syntax-check, with the
    all-in-one inventory standing in for staging and production."""
    password = tmp_path / "vault-password"
    password.write_text("not-used\n")
    (tmp_path / "var" / "bundle" / "enclave-2026.12.07-abcdef123456").mkdir(parents=True)
    inventory = "ansible/inventories/all-in-one/hosts.yml"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "CI_PROJECT_DIR": str(tmp_path),
        "WORKSPACE": str(tmp_path),
        "INVENTORY": inventory,
        "STAGING_INVENTORY": inventory,
        "PRODUCTION_INVENTORY": inventory,
        "ANSIBLE_VAULT_PASSWORD_FILE": str(password),
        "VAULT_PASSWORD_FILE": str(password),
        "ENCLAVE_BUNDLE_DIR": str(tmp_path / "var" / "bundle" / "current"),
    }
    deploy = gitlab()[".deploy"]["script"]
    export = next(line for line in deploy if line.startswith("export "))
    commands = sorted({line for line in _shell_lines() if "ansible-playbook" in line})
    assert len(commands) == 6  # GitLab's template, Jenkins' staging and production
    for command in commands:
        script = command if command.startswith("cd ansible") else f"cd ansible && {command}"
        script = f"{export} && {script.replace('../.venv/bin/', '')} --syntax-check"
        result = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, (command, result.stdout + result.stderr)
        assert "playbook:" in result.stdout
