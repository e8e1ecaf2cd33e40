"""Build the offline release bundle (`make bundle`): everything site.yml needs with no network.

var/bundle/enclave-<version>/
  VERSION          the release name (commit date and hash of HEAD)
  app.tar.gz       the app: `git archive` of HEAD
  wheelhouse.tar   a wheel of every Python dependency (requirements/production.txt), built here
                   for the target (Debian 12, Python 3.11, this machine's architecture)
  debs.tar         the Debian packages the roles install, with all their dependencies, as a flat
                   apt repository (Packages, Packages.gz, Release)
  grafana/         the customer's Grafana .deb when --grafana-deb names one (enclave_grafana)
  SHA256SUMS       the manifest; SHA256SUMS.asc its signature when a gpg key is given
var/bundle/current -> enclave-<version>

Run it on Debian 12 with Python 3.11 (the target's system). Options for tests and for online
installs that only need the app: --skip-debs, --skip-wheels; --debs-from DIR takes the .deb files
from DIR instead of downloading them.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Every package the roles install (ansible/roles/*/defaults and tasks); a test holds them equal.
DEBIAN_PACKAGES = [
    # enclave_common
    *["acl", "chrony", "nftables", "openssl", "python3-apt", "sudo", "unattended-upgrades"],
    # enclave_postgresql, enclave_redis, enclave_clamav, enclave_files
    *["postgresql-15", "postgresql-client-15", "redis-server", "clamav-daemon", "clamav-freshclam"],
    *["nfs-kernel-server", "nfs-common"],
    # enclave_app, enclave_nginx
    *["python3", "python3-venv", "libldap-2.5-0", "libsasl2-2", "nginx"],
    # enclave_monitoring_exporters, enclave_prometheus; what Grafana's own .deb depends on
    *["prometheus-node-exporter", "prometheus-postgres-exporter", "prometheus-redis-exporter"],
    *["prometheus-nginx-exporter", "prometheus", "prometheus-blackbox-exporter"],
    # enclave_coturn, enclave_janus
    *["coturn", "janus"],
    *["adduser", "libfontconfig1", "musl"],
]
APT_DEPENDS_FLAGS = [
    *["--recurse", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks"],
    *["--no-replaces", "--no-enhances"],
]


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, text=True, **kwargs)  # type: ignore[call-overload]  # noqa: S603


def release_version() -> str:
    stamp = run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%cd", "--date=format:%Y.%m.%d"],
        capture_output=True,
    ).stdout.strip()
    commit = run(
        ["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True
    ).stdout.strip()
    return f"{stamp}-{commit}"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tar_directory(source: Path, target: Path) -> None:
    """An uncompressed tar of source's contents (wheels and .debs are compressed already)."""
    with tarfile.open(target, "w") as archive:
        for path in sorted(source.iterdir()):
            archive.add(path, arcname=path.name)


def build_app(out: Path) -> None:
    run(
        [
            "git",
            "-C",
            str(ROOT),
            "archive",
            "--format=tar.gz",
            "-o",
            str(out / "app.tar.gz"),
            "HEAD",
        ]
    )


def build_wheelhouse(out: Path, work: Path, target_python: Path | None) -> None:
    if sys.version_info[:2] != (3, 11):
        raise SystemExit("The wheelhouse must be built with Python 3.11 (the target's python3).")
    wheels = work / "wheelhouse"
    wheels.mkdir()
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(ROOT / "requirements" / "production.txt"),
            "-w",
            str(wheels),
        ]
    )
    if target_python is not None:
        # Environment markers are evaluated for the interpreter that runs pip: redis needs
        # async-timeout below Python 3.11.3, so a wheelhouse built with 3.11.7 lacks it for
        # Debian 12's 3.11.2. A second pass with the target's own python3 adds what its markers
        # ask for (everything else is found in the wheelhouse already).
        run(
            [
                str(target_python),
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--disable-pip-version-check",
                "--find-links",
                str(wheels),
                "-r",
                str(ROOT / "requirements" / "production.txt"),
                "-w",
                str(wheels),
            ]
        )
    for name in ("base.txt", "production.txt"):
        shutil.copy(ROOT / "requirements" / name, wheels / name)
    # The marker the playbook's unarchive looks for.
    shutil.copy(ROOT / "requirements" / "production.txt", wheels / "requirements.txt")
    tar_directory(wheels, out / "wheelhouse.tar")


def target_python(path: str) -> Path | None:
    """The target's interpreter when it exists and is not the one running this script."""
    candidate = Path(path)
    if not path or not candidate.exists():
        return None
    version = run(
        [str(candidate), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
    ).stdout.strip()
    return None if version == platform.python_version() else candidate


def package_closure(packages: list[str]) -> list[str]:
    listing = run(
        ["apt-cache", "depends", *APT_DEPENDS_FLAGS, *packages], capture_output=True
    ).stdout
    return sorted(
        {
            line.strip()
            for line in listing.splitlines()
            if line and not line[0].isspace() and not line.startswith("<")
        }
    )


def download_debs(target: Path, packages: list[str]) -> None:
    names = package_closure(packages)
    try:
        run(["apt-get", "download", "-q", *names], cwd=target, capture_output=True)
    except subprocess.CalledProcessError:
        # A name without a candidate (virtual) fails the whole batch: one at a time then.
        for name in names:
            result = subprocess.run(  # noqa: S603
                ["apt-get", "download", "-q", name],  # noqa: S607
                cwd=target,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                print(f"  skipped {name}: {result.stderr.strip().splitlines()[-1:]}")


def write_apt_index(repo: Path) -> None:
    """Packages, Packages.gz and Release of a flat repository (`deb [trusted=yes] file:DIR ./`)."""
    stanzas = []
    for deb in sorted(repo.glob("*.deb")):
        control = run(["dpkg-deb", "--field", str(deb)], capture_output=True).stdout.rstrip("\n")
        data = deb.read_bytes()
        stanzas.append(
            f"{control}\nFilename: ./{deb.name}\nSize: {len(data)}\n"
            f"MD5sum: {hashlib.md5(data, usedforsecurity=False).hexdigest()}\n"
            f"SHA256: {hashlib.sha256(data).hexdigest()}\n"
        )
    packages = "\n".join(stanzas).encode()
    (repo / "Packages").write_bytes(packages)
    with gzip.GzipFile(repo / "Packages.gz", "wb", mtime=0) as stream:
        stream.write(packages)
    lines = [
        "Origin: Enclave bundle",
        "Label: Enclave bundle",
        "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()),
        "SHA256:",
    ]
    for name in ("Packages", "Packages.gz"):
        lines.append(f" {sha256(repo / name)} {(repo / name).stat().st_size} {name}")
    (repo / "Release").write_text("\n".join(lines) + "\n")


def build_debs(out: Path, work: Path, debs_from: Path | None) -> None:
    repo = work / "debs"
    repo.mkdir()
    if debs_from is not None:
        for deb in debs_from.glob("*.deb"):
            shutil.copy(deb, repo / deb.name)
    else:
        download_debs(repo, list(DEBIAN_PACKAGES))
    if not any(repo.glob("*.deb")):
        raise SystemExit("No Debian packages were collected.")
    write_apt_index(repo)
    tar_directory(repo, out / "debs.tar")


def write_manifest(out: Path, gpg_key: str) -> None:
    files = sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("SHA256SUMS"))
    manifest = "".join(f"{sha256(p)}  {p.relative_to(out)}\n" for p in files)
    (out / "SHA256SUMS").write_text(manifest)
    if gpg_key:
        run(
            [
                "gpg",
                "--batch",
                "--yes",
                "--local-user",
                gpg_key,
                "--armor",
                "--detach-sign",
                "--output",
                str(out / "SHA256SUMS.asc"),
                str(out / "SHA256SUMS"),
            ]
        )


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "bundle")
    parser.add_argument("--skip-wheels", action="store_true", help="no wheelhouse (online pip)")
    parser.add_argument("--skip-debs", action="store_true", help="no apt repository (online apt)")
    parser.add_argument("--debs-from", type=Path, help="take the .deb files from this directory")
    parser.add_argument(
        "--clamav-dir",
        type=Path,
        help="signature databases (*.cvd) to carry along, e.g. from cvdupdate",
    )
    parser.add_argument(
        "--grafana-deb",
        type=Path,
        help="the customer's Grafana .deb (Grafana is no Debian package), for enclave_grafana",
    )
    parser.add_argument(
        "--target-python",
        default="/usr/bin/python3",
        help="the target's interpreter (Debian 12's python3) for a second pass of the wheelhouse"
        " with its environment markers; skipped when it is this interpreter or missing",
    )
    parser.add_argument(
        "--gpg-key",
        default=os.environ.get("ENCLAVE_BUNDLE_GPG_KEY", ""),
        help="sign SHA256SUMS with this key (default: $ENCLAVE_BUNDLE_GPG_KEY)",
    )
    args = parser.parse_args(argv)

    version = release_version()
    final = args.output / f"enclave-{version}"
    out = args.output / f"enclave-{version}.partial"
    work = args.output / f"enclave-{version}.work"
    for path in (out, work):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    print(f"Building the bundle of {version} in {final}")
    (out / "VERSION").write_text(version + "\n")
    build_app(out)
    if not args.skip_wheels:
        print("  wheelhouse (pip wheel -r requirements/production.txt)")
        build_wheelhouse(out, work, target_python(args.target_python))
    if not args.skip_debs:
        print("  Debian packages and their dependencies")
        build_debs(out, work, args.debs_from)
    if args.clamav_dir:
        shutil.copytree(args.clamav_dir, out / "clamav")
    if args.grafana_deb:
        (out / "grafana").mkdir()
        shutil.copy(args.grafana_deb, out / "grafana" / args.grafana_deb.name)
    write_manifest(out, args.gpg_key)
    shutil.rmtree(work)
    shutil.rmtree(final, ignore_errors=True)
    out.rename(final)
    current = args.output / "current"
    if current.is_symlink() or current.exists():
        current.unlink()
    current.symlink_to(final.name)
    size_mib = sum(p.stat().st_size for p in final.rglob("*") if p.is_file()) >> 20
    print(f"Done: {final} ({size_mib} MiB)")
    return final


if __name__ == "__main__":
    main()
