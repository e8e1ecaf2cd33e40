"""The company directory (LDAP / Active Directory): configuration, reads and the sync service.

Directory users are ordinary users with a `DirectoryProfile`. `directory_sync()` creates and
updates every directory user (also those who never logged in, so they can be @mentioned and
messaged), maps directory groups to organisation roles and channel memberships, and deactivates
users removed or disabled in the directory through `user_deactivate`, which ends their sessions,
tokens and sockets at once. Local accounts (no profile) are never touched.

Safety: everything is read from the directory before the first write. If the directory cannot
be reached, or answers with nobody at all, `DirectoryUnavailable` is raised and nobody is
deactivated. User input reaches LDAP filters only through `escape_filter_chars`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import ldap
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from ldap.cidict import cidict
from ldap.controls import SimplePagedResultsControl
from ldap.filter import escape_filter_chars
from PIL import Image, ImageOps

from apps.accounts import services
from apps.accounts.audit import AuditAction, audit_record
from apps.accounts.models import DirectoryProfile, DirectorySyncRun, Role, User
from apps.accounts.signals import directory_channel_members_wanted, user_onboarded
from apps.core.errors import DomainError

logger = logging.getLogger(__name__)

# Active Directory's userAccountControl flag ACCOUNTDISABLE.
AD_ACCOUNT_DISABLED = 0x2
PAGE_SIZE = 500
ROLE_RANK: dict[str, int] = {Role.GUEST: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}
USER_FIELDS = ("first_name", "last_name", "display_name", "email")
PROFILE_FIELDS = ("phone", "department", "title")
# Enclave field -> directory attribute. OpenLDAP (inetOrgPerson) names; for Active Directory
# set ENCLAVE_LDAP_ATTR_MAP, e.g. {"department": "department", "phone": "telephoneNumber"}.
DEFAULT_ATTR_MAP = {
    "first_name": "givenName",
    "last_name": "sn",
    "display_name": "displayName",
    "email": "mail",
    "phone": "telephoneNumber",
    "department": "departmentNumber",
    "title": "title",
}


class DirectoryUnavailable(DomainError):
    code = "directory_unavailable"
    http_status = 503


class DirectoryNotConfigured(DomainError):
    code = "directory_not_configured"
    http_status = 400


class DirectorySyncRefused(DomainError):
    """The sync would deactivate more people than ENCLAVE_LDAP_SYNC_MAX_DEACTIVATE_PERCENT."""

    code = "directory_sync_refused"
    http_status = 409


def normalize_dn(dn: str) -> str:
    """Canonical, case-folded form of a DN, so "CN=A, OU=B" and "cn=a,ou=b" compare equal."""
    try:
        return str(ldap.dn.dn2str(ldap.dn.str2dn(dn))).lower()
    except ldap.DECODING_ERROR:
        return dn.strip().lower()


@dataclass(frozen=True, slots=True)
class DirectoryConfig:
    server_uri: str
    bind_dn: str = ""
    bind_password: str = ""
    start_tls: bool = False
    ca_cert_file: str = ""
    timeout_seconds: int = 2
    sync_timeout_seconds: int = 60
    retry_seconds: int = 30
    user_search_base: str = ""
    user_filter: str = "(uid=%(user)s)"
    username_attr: str = "uid"
    sync_filter: str = "(objectClass=inetOrgPerson)"
    disabled_filter: str = ""
    group_search_base: str = ""
    group_filter: str = "(objectClass=groupOfNames)"
    group_member_attr: str = "member"
    attr_map: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ATTR_MAP))
    group_role_map: dict[str, str] = field(default_factory=dict)
    group_channel_map: dict[str, list[str]] = field(default_factory=dict)
    default_role: str = Role.MEMBER
    adopt_local_users: bool = False
    id_attr: str = "entryUUID"
    max_deactivate_percent: int = 10

    @property
    def enabled(self) -> bool:
        return bool(self.server_uri)

    @property
    def mapped_groups(self) -> set[str]:
        return set(self.group_role_map) | set(self.group_channel_map)


def directory_config() -> DirectoryConfig:
    """The directory settings (settings.ENCLAVE_LDAP, read from ENCLAVE_LDAP_* variables)."""
    raw: dict[str, Any] = settings.ENCLAVE_LDAP
    return DirectoryConfig(
        server_uri=raw.get("SERVER_URI", ""),
        bind_dn=raw.get("BIND_DN", ""),
        bind_password=raw.get("BIND_PASSWORD", ""),
        start_tls=bool(raw.get("START_TLS", False)),
        ca_cert_file=raw.get("CA_CERT_FILE", ""),
        timeout_seconds=int(raw.get("TIMEOUT_SECONDS", 2)),
        sync_timeout_seconds=int(raw.get("SYNC_TIMEOUT_SECONDS", 60)),
        retry_seconds=int(raw.get("RETRY_SECONDS", 30)),
        user_search_base=raw.get("USER_SEARCH_BASE", ""),
        user_filter=raw.get("USER_FILTER") or "(uid=%(user)s)",
        username_attr=raw.get("USERNAME_ATTR") or "uid",
        sync_filter=raw.get("SYNC_FILTER") or "(objectClass=inetOrgPerson)",
        disabled_filter=raw.get("DISABLED_FILTER", ""),
        group_search_base=raw.get("GROUP_SEARCH_BASE", ""),
        group_filter=raw.get("GROUP_FILTER") or "(objectClass=groupOfNames)",
        group_member_attr=raw.get("GROUP_MEMBER_ATTR") or "member",
        attr_map={**DEFAULT_ATTR_MAP, **(raw.get("ATTR_MAP") or {})},
        group_role_map={
            normalize_dn(dn): role for dn, role in (raw.get("GROUP_ROLE_MAP") or {}).items()
        },
        group_channel_map={
            normalize_dn(dn): [names] if isinstance(names, str) else list(names)
            for dn, names in (raw.get("GROUP_CHANNEL_MAP") or {}).items()
        },
        default_role=raw.get("DEFAULT_ROLE") or Role.MEMBER,
        adopt_local_users=bool(raw.get("ADOPT_LOCAL_USERS", False)),
        id_attr=raw.get("ID_ATTR", "entryUUID"),
        max_deactivate_percent=int(raw.get("SYNC_MAX_DEACTIVATE_PERCENT", 10)),
    )


def connection_options(config: DirectoryConfig, *, for_sync: bool = False) -> dict[int, Any]:
    """python-ldap options: time-outs so a dead directory fails fast, TLS trust if given.

    OPT_NETWORK_TIMEOUT bounds the TCP connect; OPT_TIMEOUT bounds every synchronous operation,
    which is what a hung directory (it accepts connections, then never answers) needs. The
    sync's searches (hundreds of entries a page, with photos) get ENCLAVE_LDAP_SYNC_TIMEOUT_SECONDS
    instead: nobody waits on them.
    """
    options: dict[int, Any] = {
        ldap.OPT_REFERRALS: 0,
        ldap.OPT_NETWORK_TIMEOUT: config.timeout_seconds,
        ldap.OPT_TIMEOUT: config.sync_timeout_seconds if for_sync else config.timeout_seconds,
    }
    if config.ca_cert_file:
        options[ldap.OPT_X_TLS_CACERTFILE] = config.ca_cert_file
        options[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
        options[ldap.OPT_X_TLS_NEWCTX] = 0  # must come last: applies the TLS options above
    return options


def _reason(exc: ldap.LDAPError) -> str:
    detail = exc.args[0] if exc.args else {}
    if isinstance(detail, dict):
        return str(detail.get("desc") or detail.get("info") or exc)
    return str(exc)


# Errors that mean the directory server is down, unreachable or not answering in time (as
# opposed to refusing a password, or a wrong base DN).
UNREACHABLE_ERRORS: tuple[type[ldap.LDAPError], ...] = (
    ldap.SERVER_DOWN,
    ldap.TIMEOUT,
    ldap.CONNECT_ERROR,
    ldap.UNAVAILABLE,
    ldap.BUSY,
)


def _down_key(config: DirectoryConfig) -> str:
    return "accounts:directory-down:" + hashlib.sha256(config.server_uri.encode()).hexdigest()[:16]


# A failure that took longer than this (a time-out, a connect that hung) opens the circuit
# breaker; one that came at once (connection refused) does not: asking again costs nothing,
# and sign-in works the moment the directory is back.
SLOW_FAILURE_SECONDS = 0.5


def directory_known_down(config: DirectoryConfig) -> bool:
    """Whether asking the directory recently hung until a time-out (circuit breaker).

    While it is (ENCLAVE_LDAP_RETRY_SECONDS after that), sign-in does not ask it: a hung
    directory would add its time-out to every sign-in, local accounts included. It is asked
    again once that period is over.
    """
    return bool(config.retry_seconds > 0 and cache.get(_down_key(config)))


def directory_mark_down(config: DirectoryConfig) -> None:
    """Remember, in the shared cache, that the directory cannot be reached (see above)."""
    if config.retry_seconds > 0:
        cache.set(_down_key(config), True, timeout=config.retry_seconds)
        logger.warning(
            "directory %s unreachable; not asked again for %d s",
            config.server_uri,
            config.retry_seconds,
        )


def directory_mark_up(config: DirectoryConfig) -> None:
    cache.delete(_down_key(config))


def directory_failure_seen(config: DirectoryConfig, *, seconds: float) -> None:
    """Note that asking the directory failed after `seconds`; slow failures open the breaker."""
    if seconds >= SLOW_FAILURE_SECONDS:
        directory_mark_down(config)


def _unavailable(
    config: DirectoryConfig, exc: ldap.LDAPError, *, started: float
) -> DirectoryUnavailable:
    if isinstance(exc, UNREACHABLE_ERRORS):
        directory_failure_seen(config, seconds=time.monotonic() - started)
    if isinstance(exc, ldap.SIZELIMIT_EXCEEDED):
        # Paged results do not get around a size limit: the service account needs its own.
        return DirectoryUnavailable(
            _(
                "The directory server %(uri)s stopped listing users at the service account's "
                "size limit (OpenLDAP's default is 500). Raise that account's limit (OpenLDAP: "
                "olcLimits ... size=unlimited). Nothing was changed."
            )
            % {"uri": config.server_uri}
        )
    return DirectoryUnavailable(
        _("The directory server %(uri)s cannot be used: %(reason)s. Nothing was changed.")
        % {"uri": config.server_uri, "reason": _reason(exc)}
    )


def directory_connect(config: DirectoryConfig, *, for_sync: bool = False) -> Any:
    """A connection bound with the service account. Raises ldap.LDAPError."""
    conn = ldap.initialize(config.server_uri, bytes_mode=False)
    for option, value in connection_options(config, for_sync=for_sync).items():
        conn.set_option(option, value)
    if config.start_tls:
        conn.start_tls_s()
    conn.simple_bind_s(config.bind_dn, config.bind_password)
    return conn


def _search_all(conn: Any, base: str, filterstr: str, attrs: list[str]) -> list[tuple[str, Any]]:
    """Every entry under `base` matching `filterstr`, paged (AD returns 1000 at most per page)."""
    control = SimplePagedResultsControl(True, size=PAGE_SIZE, cookie="")
    found: list[tuple[str, Any]] = []
    while True:
        msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, filterstr, attrs, serverctrls=[control])
        _type, rows, _msgid, controls = conn.result3(msgid)
        # Referrals come back without a DN; we do not chase them.
        found.extend((dn, cidict(entry)) for dn, entry in rows if dn)
        cookie = next(
            (c.cookie for c in controls if c.controlType == SimplePagedResultsControl.controlType),
            b"",
        )
        if not cookie:
            return found
        control.cookie = cookie


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One person as the directory describes them."""

    dn: str
    username: str
    fields: dict[str, str]
    disabled: bool
    group_dns: frozenset[str]
    photo: bytes = b""
    # The stable id (ENCLAVE_LDAP_ID_ATTR), "" when the directory gave none.
    directory_id: str = ""


def _stable_id(entry: Any, attr: str) -> str:
    """The entry's stable id as text: entryUUID as it is, AD's binary objectGUID as a UUID."""
    values = entry.get(attr) or [] if attr else []
    raw = bytes(values[0]) if values else b""
    if not raw:
        return ""
    if attr.lower() == "objectguid" and len(raw) == 16:
        return str(uuid.UUID(bytes_le=raw))
    text = raw.decode("ascii", "replace").strip().lower()
    if not text.isprintable() or "\ufffd" in text:
        text = raw.hex()
    return text if len(text) <= 100 else hashlib.sha256(raw).hexdigest()


def _first(entry: Any, attr: str) -> str:
    values = entry.get(attr) or []
    return values[0].decode("utf-8", "replace").strip() if values else ""


def _mapped_groups_by_member(conn: Any, config: DirectoryConfig) -> dict[str, set[str]]:
    """Member DN -> the mapped groups it belongs to, directly or through nested groups."""
    if not config.group_search_base or not config.mapped_groups:
        return {}
    rows = _search_all(
        conn, config.group_search_base, config.group_filter, [config.group_member_attr]
    )
    members_of: dict[str, set[str]] = {
        normalize_dn(dn): {
            normalize_dn(value.decode("utf-8", "replace"))
            for value in entry.get(config.group_member_attr) or []
        }
        for dn, entry in rows
    }
    by_member: dict[str, set[str]] = {}
    for group in config.mapped_groups:
        seen: set[str] = set()
        pending = [group]
        while pending:  # nested groups: a member that is itself a group brings its members
            for member in members_of.get(pending.pop(), set()):
                if member not in seen:
                    seen.add(member)
                    if member in members_of:
                        pending.append(member)
        for member in seen:
            by_member.setdefault(member, set()).add(group)
    return by_member


# Photo attributes, in order of preference: inetOrgPerson's, then Active Directory's.
PHOTO_ATTRS = ("jpegPhoto", "thumbnailPhoto")
AVATAR_PIXELS = 256
# A directory photo above this is not decoded (AD's thumbnailPhoto is at most 100 kB).
MAX_PHOTO_BYTES = 5 * 1024 * 1024


def _photo(entry: Any) -> bytes:
    for attr in PHOTO_ATTRS:
        values = entry.get(attr) or []
        if values and values[0]:
            return bytes(values[0])
    return b""


def directory_avatar(photo: bytes) -> bytes | None:
    """The directory photo as a JPEG of at most 256x256 pixels, or None if it is no image."""
    if not photo or len(photo) > MAX_PHOTO_BYTES:
        return None
    try:
        with Image.open(io.BytesIO(photo)) as source:
            if source.width * source.height > 40_000_000:  # a decompression bomb
                return None
            image = ImageOps.exif_transpose(source).convert("RGB")
            image.thumbnail((AVATAR_PIXELS, AVATAR_PIXELS))
            out = io.BytesIO()
            image.save(out, "JPEG", quality=85)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
    return out.getvalue()


def _apply_photo(user: User, profile: DirectoryProfile, photo: bytes) -> bool:
    """Store a new directory photo as the user's avatar; True when the avatar changed.

    No photo, or one Pillow cannot read, leaves the avatar alone. Caller saves `profile`.
    """
    if not photo:
        return False
    digest = hashlib.sha256(photo).hexdigest()
    if profile.photo_digest == digest:
        return False
    profile.photo_digest = digest  # an unreadable photo is not retried until it changes
    avatar = directory_avatar(photo)
    if avatar is None:
        return False
    previous = user.avatar.name or ""
    # A name per photo: avatar addresses are cached by browsers for good (`avatar_file`).
    user.avatar.save(f"directory-{user.pk}-{digest[:16]}.jpg", ContentFile(avatar), save=False)
    user.save(update_fields=["avatar"])
    if re.match(rf"avatars/directory-{user.pk}[-_.]", previous) and previous != user.avatar.name:
        # Only a photo the directory gave replaces its file; one the user uploaded is kept.
        storage = user.avatar.storage
        transaction.on_commit(lambda: storage.delete(previous))
    return True


def _read_entries(conn: Any, config: DirectoryConfig, filterstr: str) -> list[DirectoryEntry]:
    attrs = [config.username_attr, "userAccountControl", *PHOTO_ATTRS, *config.attr_map.values()]
    if config.id_attr:  # entryUUID is operational: it comes only when asked for by name
        attrs.append(config.id_attr)
    rows = _search_all(conn, config.user_search_base, filterstr, attrs)
    disabled_dns: set[str] = set()
    if config.disabled_filter:
        disabled_rows = _search_all(
            conn, config.user_search_base, f"(&{filterstr}{config.disabled_filter})", ["1.1"]
        )
        disabled_dns = {normalize_dn(dn) for dn, _entry in disabled_rows}
    groups_by_member = _mapped_groups_by_member(conn, config)
    entries = []
    for dn, raw in rows:
        username = _first(raw, config.username_attr)
        if not username:
            continue
        key = normalize_dn(dn)
        control = _first(raw, "userAccountControl")
        ad_disabled = control.isdigit() and bool(int(control) & AD_ACCOUNT_DISABLED)
        entries.append(
            DirectoryEntry(
                dn=dn,
                username=username[:150],
                fields={name: _first(raw, attr) for name, attr in config.attr_map.items()},
                disabled=ad_disabled or key in disabled_dns,
                group_dns=frozenset(groups_by_member.get(key, set())),
                photo=_photo(raw),
                directory_id=_stable_id(raw, config.id_attr),
            )
        )
    return entries


def directory_read_all(*, config: DirectoryConfig) -> list[DirectoryEntry]:
    """Every person the sync filter matches. Raises DirectoryUnavailable."""
    started = time.monotonic()
    try:
        conn = directory_connect(config, for_sync=True)
        try:
            entries = _read_entries(conn, config, config.sync_filter)
        finally:
            conn.unbind_s()
    except ldap.LDAPError as exc:
        raise _unavailable(config, exc, started=started) from exc
    directory_mark_up(config)
    return entries


def directory_read_one(*, config: DirectoryConfig, username: str) -> DirectoryEntry | None:
    """The person with this username if the directory has exactly one; DirectoryUnavailable."""
    user_filter = config.user_filter % {"user": escape_filter_chars(username)}
    started = time.monotonic()
    try:
        conn = directory_connect(config)
        try:
            entries = _read_entries(conn, config, f"(&{config.sync_filter}{user_filter})")
        finally:
            conn.unbind_s()
    except ldap.LDAPError as exc:
        raise _unavailable(config, exc, started=started) from exc
    return entries[0] if len(entries) == 1 else None


# --- applying what the directory says ----------------------------------------------------------


@dataclass
class DirectorySyncResult:
    """What a sync changed, one human-readable line per change."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    role_changes: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    channels_joined: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything in Enclave changed (warnings change nothing)."""
        return any(
            (
                self.created,
                self.updated,
                self.renamed,
                self.role_changes,
                self.deactivated,
                self.reactivated,
                self.channels_joined,
            )
        )

    def lines(self) -> list[str]:
        labelled = [
            (_("created"), self.created),
            (_("updated"), self.updated),
            (_("renamed"), self.renamed),
            (_("role changed"), self.role_changes),
            (_("deactivated"), self.deactivated),
            (_("reactivated"), self.reactivated),
            (_("joined channel"), self.channels_joined),
            (_("warning"), self.warnings),
        ]
        return [f"{label}: {item}" for label, items in labelled for item in items]


def _role_for(entry: DirectoryEntry, config: DirectoryConfig) -> str | None:
    """The role the directory grants, or None when roles are not managed by the directory."""
    if not config.group_role_map:
        return None
    roles = [config.group_role_map[g] for g in entry.group_dns if g in config.group_role_map]
    return max(roles, key=lambda role: ROLE_RANK.get(role, 0)) if roles else config.default_role


def _same_person(entry: DirectoryEntry, profile: DirectoryProfile | None) -> bool:
    """Whether a profile found by username is this entry's: ids agree, or one is unknown (a
    user synced before stable ids were stored learns it here, once)."""
    return profile is not None and (
        not profile.directory_id
        or not entry.directory_id
        or profile.directory_id == entry.directory_id
    )


def _profile_for(entry: DirectoryEntry) -> DirectoryProfile | None:
    """The directory user this entry describes: by stable id, else by username."""
    profiles = DirectoryProfile.objects.select_related("user")
    if entry.directory_id:
        profile = profiles.filter(directory_id=entry.directory_id).first()
        if profile is not None:
            return profile
    profile = profiles.filter(user__username__iexact=entry.username).first()
    return profile if _same_person(entry, profile) else None


def _profiles_for(
    entries: list[DirectoryEntry], profiles: list[DirectoryProfile]
) -> list[DirectoryProfile | None]:
    """`_profile_for` of every entry, looked up in `profiles` (all of them, users joined)."""
    by_id = {p.directory_id: p for p in profiles if p.directory_id}
    by_username = {p.user.username.lower(): p for p in profiles}
    matched: list[DirectoryProfile | None] = []
    for entry in entries:
        profile = by_id.get(entry.directory_id) if entry.directory_id else None
        if profile is None:
            candidate = by_username.get(entry.username.lower())
            profile = candidate if _same_person(entry, candidate) else None
        matched.append(profile)
    return matched


def _rename(user: User, username: str, result: DirectorySyncResult) -> None:
    """Give a directory user the username the directory now has, unless another account
    holds it. Caller holds a transaction."""
    if User.objects.filter(username__iexact=username).exclude(pk=user.pk).exists():
        result.warnings.append(
            _(
                "%(old)s was renamed to %(new)s in the directory, but another account has "
                "that username; the old one was kept."
            )
            % {"old": user.username, "new": username}
        )
        return
    old = user.username
    user.username = username
    user.save(update_fields=["username"])
    audit_record(
        action=AuditAction.USER_RENAMED, target=user, metadata={"from": old, "to": username}
    )
    result.renamed.append(f"{old} → {username}")


def _apply_entry(
    entry: DirectoryEntry,
    config: DirectoryConfig,
    result: DirectorySyncResult,
    profile: DirectoryProfile | None,
) -> User | None:
    """Create or update one directory user; `profile` is `_profile_for(entry)`. Caller holds
    a transaction."""
    role = _role_for(entry, config)
    if profile is not None:
        user = profile.user
        if entry.directory_id:
            profile.directory_id = entry.directory_id
        if user.username != entry.username:
            _rename(user, entry.username, result)
    else:
        same_name = User.objects.filter(username__iexact=entry.username).first()
        if same_name is None:
            if entry.disabled:
                return None
            user = services.user_create(
                username=entry.username, password=None, role=role or config.default_role
            )
            user_onboarded.send(sender=User, user=user, source="directory", channel_ids=[])
            result.created.append(entry.username)
        elif DirectoryProfile.objects.filter(user=same_name).exists():
            result.warnings.append(
                _(
                    "%(username)s: the account with this username belongs to another "
                    "directory person (a different %(attr)s); it was not linked."
                )
                % {"username": entry.username, "attr": config.id_attr}
            )
            return None
        elif not config.adopt_local_users:
            result.warnings.append(
                _("%(username)s: a local account has this username; it was not linked.")
                % {"username": entry.username}
            )
            return None
        else:
            user = same_name
        profile = DirectoryProfile(user=user, dn=entry.dn, directory_id=entry.directory_id or None)

    changed_user = [
        name
        for name in USER_FIELDS
        if name in entry.fields and getattr(user, name) != entry.fields[name][:150]
    ]
    for name in changed_user:
        setattr(user, name, entry.fields[name][:150])
    if changed_user:
        user.save(update_fields=changed_user)
    changed_profile = [
        name
        for name in PROFILE_FIELDS
        if name in entry.fields and getattr(profile, name) != entry.fields[name][:150]
    ]
    for name in changed_profile:
        setattr(profile, name, entry.fields[name][:150])
    if _apply_photo(user, profile, entry.photo):
        changed_user.append("avatar")
    profile.dn = entry.dn
    profile.synced_at = timezone.now()
    if (changed_user or changed_profile) and entry.username not in result.created:
        result.updated.append(f"{user.username}: {', '.join(changed_user + changed_profile)}")

    # The owner is never demoted by the directory: that could lock everybody out of the admin.
    if role is not None and role != user.role and user.role != Role.OWNER:
        result.role_changes.append(f"{user.username}: {user.role} → {role}")
        services.user_set_role(user=user, role=role, reason="directory group")

    if entry.disabled and user.is_active:
        services.user_deactivate(user=user, reason="disabled in the directory")
        profile.deactivated_by_sync = True
        result.deactivated.append(
            _("%(username)s (disabled in the directory)") % {"username": user.username}
        )
    elif not entry.disabled and not user.is_active and profile.deactivated_by_sync:
        services.user_reactivate(user=user, reason="enabled in the directory")
        profile.deactivated_by_sync = False
        result.reactivated.append(user.username)
    profile.save()
    return user


def _apply_channel_memberships(
    pairs: Iterable[tuple[User, DirectoryEntry]],
    config: DirectoryConfig,
    result: DirectorySyncResult,
) -> None:
    """Add users to the channels their groups map to (never removes: channel admins may).

    Channels are chat's: accounts says who the directory puts in which channel, by name, and
    chat adds them (its receiver of `directory_channel_members_wanted`, in the same transaction).
    """
    wanted: dict[str, list[User]] = {}
    for user, entry in pairs:
        if not user.is_active:
            continue
        for group in entry.group_dns:
            for name in config.group_channel_map.get(group, []):
                wanted.setdefault(name.lower(), []).append(user)
    if wanted:
        directory_channel_members_wanted.send(
            sender=DirectorySyncResult, channel_users=wanted, result=result
        )


def directory_user_refresh(*, username: str, config: DirectoryConfig | None = None) -> User | None:
    """Bring one user up to date from the directory, at log-in (the password was checked).

    Returns the user (possibly just deactivated, when the directory disables them), or None
    when the directory does not know them or they clash with a local account.
    Raises DirectoryUnavailable.
    """
    config = config or directory_config()
    entry = directory_read_one(config=config, username=username)
    if entry is None:
        return None
    result = DirectorySyncResult()
    with transaction.atomic():
        user = _apply_entry(entry, config, result, _profile_for(entry))
        if user is not None:
            _apply_channel_memberships([(user, entry)], config, result)
    for line in result.lines():
        logger.info("directory log-in: %s", line)
    return user


@dataclass(frozen=True, slots=True)
class _SyncPlan:
    """Who the directory's answer matches, and who a sync would deactivate, before any write."""

    matched: list[DirectoryProfile | None]
    removed: list[DirectoryProfile]  # active directory users the directory no longer lists
    disabled: list[DirectoryProfile]  # active directory users the directory lists as disabled
    active: int  # active directory users now

    @property
    def deactivations(self) -> int:
        return len(self.removed) + len(self.disabled)


def _sync_plan(entries: list[DirectoryEntry]) -> _SyncPlan:
    profiles = list(DirectoryProfile.objects.select_related("user"))
    matched = _profiles_for(entries, profiles)
    present = {profile.pk for profile in matched if profile is not None}
    active = [p for p in profiles if p.user.is_active]
    return _SyncPlan(
        matched=matched,
        removed=[p for p in active if p.pk not in present],
        disabled=[
            p
            for entry, p in zip(entries, matched, strict=True)
            if p and entry.disabled and p.user.is_active
        ],
        active=len(active),
    )


def _deactivation_allowed(plan: _SyncPlan, config: DirectoryConfig) -> int:
    """How many deactivations one sync may make: the configured share of the active directory
    users, and always at least one (a small team's single leaver is not a mass event)."""
    return max(1, plan.active * config.max_deactivate_percent // 100)


def _refuse(
    run: DirectorySyncRun, plan: _SyncPlan, config: DirectoryConfig
) -> DirectorySyncRefused:
    """Record the run as refused (nothing was changed) and build the error to raise."""
    numbers = {
        "count": plan.deactivations,
        "total": plan.active,
        "percent": round(100 * plan.deactivations / plan.active),
        "limit": config.max_deactivate_percent,
    }
    message = (
        _(
            "Refused: this sync would deactivate %(count)d of %(total)d directory users "
            "(%(percent)d %%), more than ENCLAVE_LDAP_SYNC_MAX_DEACTIVATE_PERCENT (%(limit)d %%) "
            "allows. Nothing was changed. Check the sync filter and search base; if the "
            "directory is right, run: manage.py ldap_sync --allow-mass-deactivation"
        )
        % numbers
    )
    run.refused = True
    run.error = message
    run.finished_at = timezone.now()
    run.changes = [
        _("would deactivate: %(username)s") % {"username": p.user.username}
        for p in [*plan.removed, *plan.disabled][:200]
    ]
    run.save(update_fields=["refused", "error", "finished_at", "changes"])
    audit_record(
        action=AuditAction.DIRECTORY_SYNC_REFUSED,
        target=run,
        metadata={
            "would_deactivate": plan.deactivations,
            "active_directory_users": plan.active,
            "limit_percent": config.max_deactivate_percent,
            "error": message,
        },
    )
    return DirectorySyncRefused(message)


def directory_sync(
    *, config: DirectoryConfig | None = None, allow_mass_deactivation: bool = False
) -> DirectorySyncResult:
    """Create, update, rename and deactivate directory users so Enclave matches the directory.

    Raises DirectoryNotConfigured without ENCLAVE_LDAP_SERVER_URI, DirectoryUnavailable when
    the directory cannot be read, and DirectorySyncRefused when it would deactivate more than
    ENCLAVE_LDAP_SYNC_MAX_DEACTIVATE_PERCENT of the directory users (a too narrow filter looks
    like a mass departure) unless `allow_mass_deactivation`; in those cases nothing at all is
    changed. Records a DirectorySyncRun.
    """
    config = config or directory_config()
    if not config.enabled:
        raise DirectoryNotConfigured(_("No directory is configured (ENCLAVE_LDAP_SERVER_URI)."))
    run = DirectorySyncRun.objects.create()
    try:
        entries = directory_read_all(config=config)
        if not entries and DirectoryProfile.objects.exists():
            # A wrong base DN or filter looks exactly like "everybody left": refuse.
            raise DirectoryUnavailable(
                _("The directory returned no users; nobody was deactivated.")
            )
    except DirectoryUnavailable as exc:
        run.error = exc.message
        run.finished_at = timezone.now()
        run.save(update_fields=["error", "finished_at"])
        audit_record(
            action=AuditAction.DIRECTORY_SYNC_FAILED,
            target=run,
            metadata={"error": exc.message},
        )
        raise

    plan = _sync_plan(entries)
    if plan.deactivations > _deactivation_allowed(plan, config) and not allow_mass_deactivation:
        raise _refuse(run, plan, config)
    result = DirectorySyncResult()
    with transaction.atomic():
        pairs: list[tuple[User, DirectoryEntry]] = []
        # People matched to their account first, so a rename frees its old username before
        # a new person with that username is looked at.
        order = sorted(range(len(entries)), key=lambda i: plan.matched[i] is None)
        for i in order:
            user = _apply_entry(entries[i], config, result, plan.matched[i])
            if user is not None:
                pairs.append((user, entries[i]))
        _apply_channel_memberships(pairs, config, result)
        for profile in plan.removed:
            services.user_deactivate(user=profile.user, reason="removed from the directory")
            profile.deactivated_by_sync = True
            profile.save(update_fields=["deactivated_by_sync"])
            result.deactivated.append(
                _("%(username)s (removed from the directory)") % {"username": profile.user.username}
            )

    run.ok = True
    run.finished_at = timezone.now()
    run.created = len(result.created)
    run.updated = len(result.updated) + len(result.role_changes) + len(result.renamed)
    run.deactivated = len(result.deactivated)
    run.reactivated = len(result.reactivated)
    run.changes = result.lines()
    run.save()
    if result.changed:
        audit_record(
            action=AuditAction.DIRECTORY_SYNC, target=run, metadata={"changes": run.changes}
        )
    return result
