"""A throwaway OpenLDAP directory for the `ldap` tests: Debian's slapd on a loopback port.

`LdapServer.start()` writes a small slapd.conf (mdb backend, the core/cosine/inetorgperson/nis
schemas plus a one-attribute stand-in for Active Directory's userAccountControl) into a temp
directory, runs /usr/sbin/slapd in the foreground on a free 127.0.0.1 port, and seeds it with
`ldapadd`. Tests change it through the helper methods and undo their changes.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import ldap
import ldap.dn
import ldap.filter
import ldap.modlist

SLAPD = "/usr/sbin/slapd"
LDAPADD = "/usr/bin/ldapadd"
SCHEMA_DIR = Path("/etc/ldap/schema")
BASE_DN = "dc=example,dc=com"
ROOT_DN = f"cn=admin,{BASE_DN}"
ROOT_PASSWORD = "directory-admin-secret"
PEOPLE = f"ou=people,{BASE_DN}"
GROUPS = f"ou=groups,{BASE_DN}"

# Active Directory's userAccountControl, so the "disabled bit" path runs against a real server.
AD_SCHEMA = """\
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'enclaveADAccount' SUP top AUXILIARY
  MAY userAccountControl )
"""

SLAPD_CONF = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema
include {root}/ad.schema
pidfile {root}/slapd.pid
argsfile {root}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 16777216
suffix "{base}"
rootdn "{rootdn}"
rootpw {rootpw}
directory {root}/data
access to attrs=userPassword by anonymous auth by self write by * none
access to * by * read
"""

SEED_LDIF = f"""\
dn: {BASE_DN}
objectClass: dcObject
objectClass: organization
o: Example Corp
dc: example

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

dn: {GROUPS}
objectClass: organizationalUnit
ou: groups

dn: uid=alice,{PEOPLE}
objectClass: inetOrgPerson
uid: alice
cn: Alice Chen
sn: Chen
givenName: Alice
displayName: Alice Chen
mail: alice@example.com
telephoneNumber: +86 10 5555 0101
departmentNumber: Engineering
title: Staff Engineer
userPassword: alice-directory-pass

dn: uid=bob,{PEOPLE}
objectClass: inetOrgPerson
uid: bob
cn: Bob Smith
sn: Smith
givenName: Bob
displayName: Bob Smith
mail: bob@example.com
departmentNumber: Sales
title: Account Manager
userPassword: bob-directory-pass

dn: uid=carol,{PEOPLE}
objectClass: inetOrgPerson
uid: carol
cn: Carol Never
sn: Never
givenName: Carol
mail: carol@example.com
departmentNumber: Finance
title: Controller
userPassword: carol-directory-pass

dn: cn=it-admins,{GROUPS}
objectClass: groupOfNames
cn: it-admins
member: uid=alice,{PEOPLE}

dn: cn=engineering,{GROUPS}
objectClass: groupOfNames
cn: engineering
member: uid=alice,{PEOPLE}

dn: cn=staff,{GROUPS}
objectClass: groupOfNames
cn: staff
member: cn=engineering,{GROUPS}
member: uid=bob,{PEOPLE}
"""


def slapd_installed() -> bool:
    return Path(SLAPD).is_file() and Path(LDAPADD).is_file()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LdapServer:
    """One slapd process with its own data directory."""

    def __init__(self, *, size_limit: int | None = None) -> None:
        """`size_limit`: slapd's `sizelimit` for every bind but the root DN (slapd's own
        default is 500)."""
        self.size_limit = size_limit
        self.root = Path(tempfile.mkdtemp(prefix="enclave-slapd-"))
        self.port = _free_port()
        self.uri = f"ldap://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, seed: bool = True) -> LdapServer:
        (self.root / "data").mkdir(exist_ok=True)
        (self.root / "ad.schema").write_text(AD_SCHEMA)
        conf = self.root / "slapd.conf"
        conf.write_text(
            SLAPD_CONF.format(
                schema=SCHEMA_DIR,
                root=self.root,
                base=BASE_DN,
                rootdn=ROOT_DN,
                rootpw=ROOT_PASSWORD,
            )
            + (f"sizelimit {self.size_limit}\n" if self.size_limit is not None else "")
        )
        log = (self.root / "slapd.log").open("ab")
        # -d keeps slapd in the foreground, so the process is ours to stop.
        self.process = subprocess.Popen(
            [SLAPD, "-d", "0", "-f", str(conf), "-h", f"{self.uri}/"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()
        if seed:
            seed_file = self.root / "seed.ldif"
            seed_file.write_text(SEED_LDIF)
            subprocess.run(
                [
                    LDAPADD,
                    "-x",
                    "-H",
                    self.uri,
                    "-D",
                    ROOT_DN,
                    "-w",
                    ROOT_PASSWORD,
                    "-f",
                    str(seed_file),
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"slapd exited: {(self.root / 'slapd.log').read_text(errors='replace')}"
                )
            try:
                self.connection().unbind_s()
                return
            except ldap.LDAPError:
                time.sleep(0.05)
        raise RuntimeError("slapd did not start within 15 seconds")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- changing the directory from a test ----------------------------------------------------

    def connection(self) -> Any:
        conn = ldap.initialize(self.uri, bytes_mode=False)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 2)
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    def add_person(
        self, uid: str, *, password: str | None = None, groups: tuple[str, ...] = (), **attrs: str
    ) -> str:
        """Add an inetOrgPerson (extra attributes by LDAP name) and put it in `groups` (cn).

        The password defaults to "<uid>-pass".
        """
        password = password or f"{uid}-pass"
        dn = f"uid={uid},{PEOPLE}"
        classes = [b"inetOrgPerson"]
        if "userAccountControl" in attrs:
            classes.append(b"enclaveADAccount")
        entry = {
            "objectClass": classes,
            "uid": [uid.encode()],
            "cn": [uid.encode()],
            "sn": [uid.encode()],
            "userPassword": [password.encode()],
            **{name: [value.encode()] for name, value in attrs.items()},
        }
        conn = self.connection()
        try:
            conn.add_s(dn, ldap.modlist.addModlist(entry))
            for group in groups:
                conn.modify_s(f"cn={group},{GROUPS}", [(ldap.MOD_ADD, "member", [dn.encode()])])
        finally:
            conn.unbind_s()
        return dn

    def replace(self, dn: str, attr: str, value: str) -> None:
        conn = self.connection()
        try:
            conn.modify_s(dn, [(ldap.MOD_REPLACE, attr, [value.encode()])])
        finally:
            conn.unbind_s()

    def rename_person(self, dn: str, new_uid: str) -> str:
        """Give a person a new uid (a new RDN, as a directory admin's rename does); the entry,
        and so its entryUUID, stays. Returns the new DN."""
        conn = self.connection()
        try:
            conn.rename_s(dn, f"uid={ldap.dn.escape_dn_chars(new_uid)}", delold=1)
        finally:
            conn.unbind_s()
        return f"uid={new_uid},{PEOPLE}"

    def entry_uuid(self, dn: str) -> str:
        conn = self.connection()
        try:
            [(_dn, entry)] = conn.search_s(dn, ldap.SCOPE_BASE, attrlist=["entryUUID"])
        finally:
            conn.unbind_s()
        return str(entry["entryUUID"][0].decode())

    def delete_person(self, dn: str) -> None:
        """Remove a person and their group memberships (as directory tools do)."""
        conn = self.connection()
        try:
            for group_dn, _entry in conn.search_s(
                GROUPS, ldap.SCOPE_ONELEVEL, f"(member={ldap.filter.escape_filter_chars(dn)})"
            ):
                with contextlib.suppress(ldap.LDAPError):
                    conn.modify_s(group_dn, [(ldap.MOD_DELETE, "member", [dn.encode()])])
            with contextlib.suppress(ldap.NO_SUCH_OBJECT):
                conn.delete_s(dn)
        finally:
            conn.unbind_s()


def ldap_settings(server: LdapServer, **overrides: Any) -> dict[str, Any]:
    """settings.ENCLAVE_LDAP pointing at `server`, with the groups of the seed mapped."""
    return {
        "SERVER_URI": server.uri,
        "BIND_DN": ROOT_DN,
        "BIND_PASSWORD": ROOT_PASSWORD,
        "TIMEOUT_SECONDS": 2,
        "USER_SEARCH_BASE": PEOPLE,
        "USER_FILTER": "(uid=%(user)s)",
        "USERNAME_ATTR": "uid",
        "SYNC_FILTER": "(objectClass=inetOrgPerson)",
        "DISABLED_FILTER": "(employeeType=disabled)",
        "GROUP_SEARCH_BASE": GROUPS,
        "GROUP_ROLE_MAP": {f"cn=it-admins,{GROUPS}": "admin"},
        "GROUP_CHANNEL_MAP": {
            f"cn=engineering,{GROUPS}": ["engineering"],
            f"cn=staff,{GROUPS}": ["general"],
        },
        **overrides,
    }
