"""Settings shared by every mode. Every knob comes from the environment (see .env.example).

With no environment at all Enclave runs in the embedded default: SQLite (WAL), in-process
real-time delivery, Celery tasks executed eagerly and files on local disk.
"""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.utils.translation import gettext_lazy as _

from apps.ops.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

VAR_DIR = Path(env.str("ENCLAVE_VAR_DIR", default=str(BASE_DIR / "var")))

# Development-only fallback; production.py refuses to start without SECRET_KEY.
SECRET_KEY = env.str("SECRET_KEY", default="enclave-embedded-insecure-key-change-me-0123456789")
DEBUG = env.bool("ENCLAVE_DEBUG", default=False)
ALLOWED_HOSTS = env.list("ENCLAVE_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("ENCLAVE_CSRF_TRUSTED_ORIGINS", default=[])
# Under /api/ a refused CSRF check answers in the API's JSON error shape (403 csrf_failed).
CSRF_FAILURE_VIEW = "apps.core.views.csrf_failure"
# Security headers on every response (docs/architecture/http.md): SecurityMiddleware sends these
# three (Django's defaults, written out so no one loses them), XFrameOptionsMiddleware the
# fourth, apps.core.middleware the Content-Security-Policy (frame-ancestors 'none', matching
# DENY) and Permissions-Policy. HSTS and HTTPS redirects: production.py.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "waffle",
    "apps.core",
    "apps.accounts",
    "apps.chat",
    "apps.files",
    "apps.search",
    "apps.ops",
    "apps.calls",
    "apps.integrations",
    "apps.helpdesk",
    "apps.analytics",
    "apps.assistant",
    "apps.workspace",
    "apps.governance",
]

MIDDLEWARE = [
    # First: the request id, metrics and log line of every request (apps/ops).
    "apps.ops.request_observation.RequestObservationMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.core.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.accounts.audit.AuditContextMiddleware",
    "apps.accounts.middleware.TwoFactorRequiredMiddleware",
    "apps.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out log-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# DATABASE_URL selects PostgreSQL in production; the embedded default is SQLite in WAL mode.
# IMMEDIATE transactions make SQLite take the write lock up front instead of failing on upgrade.
_SQLITE_PATH = VAR_DIR / "enclave.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{_SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # a fresh clone has no var/ yet
    # The message index's INCLUDE columns (a covering index on PostgreSQL) are a no-op on
    # SQLite, which is correct here: the embedded mode needs no index-only scans. Django warns
    # about it on every start, which makes a new admin think something is broken.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
        }
    )
else:
    # Under ASGI each request runs its synchronous part in a thread of its own, so a persistent
    # connection (CONN_MAX_AGE) is never reused: it opened one PostgreSQL connection per request
    # until max_connections ran out. A pool per process instead (psycopg 3, Django 5.1+);
    # Django returns the connection to it at the end of each request.
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _pool_size = env.int("ENCLAVE_DB_POOL_MAX_SIZE", default=8)
    if _pool_size > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        _db_options["pool"] = {
            "min_size": min(2, _pool_size),
            "max_size": _pool_size,
            "timeout": env.float("ENCLAVE_DB_POOL_TIMEOUT", default=10.0),
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("ENCLAVE_DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # PostgreSQL's JIT only adds compile time to our short queries (34 ms on one channel list).
    _db_options.setdefault("options", "-c jit=off")
    # Django turns psycopg's prepared statements off (None). Our hottest statement, the send
    # batch's write, asks for it explicitly (apps/core/sqlrows.prepared_cursor): parsed and
    # planned once per connection instead of once per batch. Django's own cursors bind on the
    # client and never prepare, so a threshold no statement reaches prepares nothing else.
    # Behind a transaction-mode pooler without prepared-statement support (PgBouncer < 1.21),
    # set ENCLAVE_DB_PREPARED_STATEMENTS=false.
    # Those prepared statements take arrays, so PostgreSQL's custom plans (the first five, and
    # after that whenever a generic plan looks dearer) guess from each call's array lengths and
    # replan every call: most of the send batch's look-up cost under load (docs §28). Generic
    # plans for them; no other statement is prepared (see above), so nothing else changes.
    # (With Django's `server_side_binding` option every query would be bound on the server and
    # prepared by psycopg: then drop this, or search gets generic plans that suit no query.)
    if env.bool("ENCLAVE_DB_PREPARED_STATEMENTS", default=True):
        _db_options.setdefault("prepare_threshold", 2**31 - 1)
        _db_options["options"] += " -c plan_cache_mode=force_generic_plan"
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker, the real-time bus -------------------------------------------
# No Channels channel layer: WebSocket pushes go through the real-time bus below (one Redis
# pub/sub channel, frames built once per event; docs/architecture/realtime.md), which
# replaced channels-redis' per-socket queues (docs/performance.md, "The real-time bus").
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "apps.core.runtime.cache.SharedRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "enclave",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Real-time fan-out (apps.core.runtime.realtime): one Redis pub/sub channel shared by every app
# process; empty = in-process delivery (the embedded mode). The prefix separates installations that
# share a Redis server.
ENCLAVE_REALTIME_URL = env.str("ENCLAVE_REALTIME_URL", default=REDIS_URL)
ENCLAVE_REALTIME_PREFIX = env.str("ENCLAVE_CHANNEL_PREFIX", default="enclave")
# Connections one process may open to Redis for real-time publishing (redis-py's asyncio pool
# raises instead of waiting when they are all in use).
ENCLAVE_REDIS_MAX_CONNECTIONS = env.int("ENCLAVE_REDIS_MAX_CONNECTIONS", default=200)

CELERY_BROKER_URL = env.str("ENCLAVE_CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool("ENCLAVE_CELERY_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "chat:home"
LOGOUT_REDIRECT_URL = "accounts:login"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_AGE = env.int("ENCLAVE_SESSION_AGE_SECONDS", default=14 * 24 * 3600)
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True

# --- LDAP / Active Directory (off unless ENCLAVE_LDAP_SERVER_URI is set; see .env.example) ------
ENCLAVE_LDAP = {
    "SERVER_URI": env.str("ENCLAVE_LDAP_SERVER_URI", default=""),
    "BIND_DN": env.str("ENCLAVE_LDAP_BIND_DN", default=""),
    "BIND_PASSWORD": env.str("ENCLAVE_LDAP_BIND_PASSWORD", default=""),
    "START_TLS": env.bool("ENCLAVE_LDAP_START_TLS", default=False),
    "CA_CERT_FILE": env.str("ENCLAVE_LDAP_CA_CERT_FILE", default=""),
    "TIMEOUT_SECONDS": env.int("ENCLAVE_LDAP_TIMEOUT_SECONDS", default=2),
    "RETRY_SECONDS": env.int("ENCLAVE_LDAP_RETRY_SECONDS", default=30),
    "SYNC_TIMEOUT_SECONDS": env.int("ENCLAVE_LDAP_SYNC_TIMEOUT_SECONDS", default=60),
    "USER_SEARCH_BASE": env.str("ENCLAVE_LDAP_USER_SEARCH_BASE", default=""),
    "USER_FILTER": env.str("ENCLAVE_LDAP_USER_FILTER", default="(uid=%(user)s)"),
    "USERNAME_ATTR": env.str("ENCLAVE_LDAP_USERNAME_ATTR", default="uid"),
    "SYNC_FILTER": env.str("ENCLAVE_LDAP_SYNC_FILTER", default="(objectClass=inetOrgPerson)"),
    "DISABLED_FILTER": env.str("ENCLAVE_LDAP_DISABLED_FILTER", default=""),
    "GROUP_SEARCH_BASE": env.str("ENCLAVE_LDAP_GROUP_SEARCH_BASE", default=""),
    "GROUP_FILTER": env.str("ENCLAVE_LDAP_GROUP_FILTER", default="(objectClass=groupOfNames)"),
    "GROUP_MEMBER_ATTR": env.str("ENCLAVE_LDAP_GROUP_MEMBER_ATTR", default="member"),
    "ATTR_MAP": env.json("ENCLAVE_LDAP_ATTR_MAP", default={}),
    "GROUP_ROLE_MAP": env.json("ENCLAVE_LDAP_GROUP_ROLE_MAP", default={}),
    "GROUP_CHANNEL_MAP": env.json("ENCLAVE_LDAP_GROUP_CHANNEL_MAP", default={}),
    "DEFAULT_ROLE": env.str("ENCLAVE_LDAP_DEFAULT_ROLE", default="member"),
    "ADOPT_LOCAL_USERS": env.bool("ENCLAVE_LDAP_ADOPT_LOCAL_USERS", default=False),
    "ID_ATTR": env.str("ENCLAVE_LDAP_ID_ATTR", default="entryUUID"),
    "SYNC_MAX_DEACTIVATE_PERCENT": env.int("ENCLAVE_LDAP_SYNC_MAX_DEACTIVATE_PERCENT", default=10),
    "SYNC_INTERVAL_MINUTES": env.int("ENCLAVE_LDAP_SYNC_INTERVAL_MINUTES", default=60),
}
AUTHENTICATION_BACKENDS = [
    # First: refuses every backend's log-in while the account is locked out (django-axes).
    "apps.accounts.backends.LockoutBackend",
    *(["apps.accounts.ldap_backend.DirectoryBackend"] if ENCLAVE_LDAP["SERVER_URI"] else []),
    "apps.accounts.backends.LocalBackend",
    # Authenticates no one: the admin console's model permissions follow the organisation role
    # (the owner is a superuser; what administrators may do: apps/accounts/roles.py).
    "apps.accounts.roles.RolePermissionBackend",
]

# --- I18N -------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# --- Static and media -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("ENCLAVE_STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("ENCLAVE_MEDIA_ROOT", default=str(VAR_DIR / "media")))
# The embedded mode serves static files from the ASGI app; production lets nginx do it.
ENCLAVE_SERVE_STATIC = env.bool("ENCLAVE_SERVE_STATIC", default=True)

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.BearerTokenAuthentication",
        "apps.accounts.authentication.TwoFactorSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    # drf-spectacular's, plus each operation's error responses (apps/core/schema.py).
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.EnclaveAutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["apps.core.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("ENCLAVE_API_RATE", default="6000/min")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Enclave API",
    "DESCRIPTION": (
        "REST API v1 of Enclave. The WebSocket protocol at /ws/ is documented in the README "
        "and docs/architecture/realtime.md; every WebSocket operation has a REST twin here."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # `<id:...>` (apps.core.converters): an integer the database can hold.
    "PATH_CONVERTER_OVERRIDES": {
        "id": {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**63 - 1}
    },
}

# --- Enclave knobs ----------------------------------------------------------------------------
ENCLAVE_MAX_MESSAGE_CHARS = env.int("ENCLAVE_MAX_MESSAGE_CHARS", default=10_000)
# Pinned messages per channel (409 pin_limit_reached beyond) and saved messages per person
# (409 saved_limit_reached beyond).
ENCLAVE_PINS_PER_CHANNEL = env.int("ENCLAVE_PINS_PER_CHANNEL", default=100)
ENCLAVE_SAVED_PER_USER = env.int("ENCLAVE_SAVED_PER_USER", default=500)
# Read receipts ("Read by N", the seen-by list) in conversations of at most this many members;
# larger channels show none and cost nothing on the read-mark path.
ENCLAVE_RECEIPTS_MAX_MEMBERS = env.int("ENCLAVE_RECEIPTS_MAX_MEMBERS", default=20)
ENCLAVE_WS_MAX_FRAME_BYTES = env.int("ENCLAVE_WS_MAX_FRAME_BYTES", default=64 * 1024)
ENCLAVE_WS_RATE_PER_SECOND = env.float("ENCLAVE_WS_RATE_PER_SECOND", default=20.0)
ENCLAVE_WS_RATE_BURST = env.int("ENCLAVE_WS_RATE_BURST", default=60)
ENCLAVE_PRESENCE_TTL_SECONDS = env.int("ENCLAVE_PRESENCE_TTL_SECONDS", default=90)
# How often an open socket re-reads its user, session and memberships (self-repair should a
# join/leave/close control have been lost; also after every interruption of the event bus).
ENCLAVE_WS_RECHECK_SECONDS = env.int("ENCLAVE_WS_RECHECK_SECONDS", default=300)
# Under uvicorn, a socket whose unsent events pass this many bytes is closed (code 4008): its
# client reconnects and catches up instead of holding up everyone's events (apps/core/wsframes).
ENCLAVE_WS_SEND_BUFFER_MAX_BYTES = env.int("ENCLAVE_WS_SEND_BUFFER_MAX_BYTES", default=8 << 20)
# Under uvicorn, pushes to a busy socket (pushes on average more often than this many
# milliseconds apart) written less than this long ago wait up to as long for more, and leave
# in one write (0: every turn's frames at once). Replies never wait; quiet sockets never wait.
# 50: mixed p99 ack 151-172 -> 74 ms, generator CPU 60 -> 48 % (docs/performance.md).
ENCLAVE_WS_PUSH_HOLD_MS = env.float("ENCLAVE_WS_PUSH_HOLD_MS", default=50.0)
# HTTP requests run request_started, Django's middleware, the (synchronous) view and the
# response's close in one worker thread, as under WSGI, instead of crossing between the
# event loop and threads five times (apps/core/runtime/asgi_handler.py).
ENCLAVE_HTTP_ONE_THREAD_HOP = env.bool("ENCLAVE_HTTP_ONE_THREAD_HOP", default=True)
# Batches of messages one app process writes at once, each in its own thread and database
# connection (apps.chat.consumers.SendBatcher). SQLite has one writer at a time: keep 1 there.
# One by default: a second writer thread in the same process fights the event loop for the
# GIL and doubled batch times at 1,000 msg/s (docs/performance.md). Tests rely on one too:
# extra writer threads keep database connections open past a test's end
# (tests/chat/test_consumers.py runs two writers on PostgreSQL and closes them itself).
ENCLAVE_SEND_WRITERS = env.int("ENCLAVE_SEND_WRITERS", default=1)
# Milliseconds a batch of fewer than 4 sends waits for more before it is written (0: never).
# With several processes at a moderate rate each commits mostly one-message batches
# (docs/performance.md §5.24 has the measurement).
ENCLAVE_SEND_BATCH_WINDOW_MS = env.float("ENCLAVE_SEND_BATCH_WINDOW_MS", default=0.0)
# CPython collector thresholds of the ASGI server process (apps/core/runtime/gctune.py); empty
# leaves the collector alone (CPython's 700,10,10, no freeze).
ENCLAVE_GC_THRESHOLDS = tuple(
    env.list("ENCLAVE_GC_THRESHOLDS", cast=int, default=[700, 10, 1_000_000])
)
# ...and the full collection it then runs itself, every this many seconds (0: never).
ENCLAVE_GC_FULL_SECONDS = env.int("ENCLAVE_GC_FULL_SECONDS", default=600)
# At most this many users one socket may watch with `presence.subscribe`.
ENCLAVE_PRESENCE_WATCH_MAX = env.int("ENCLAVE_PRESENCE_WATCH_MAX", default=1000)
ENCLAVE_HISTORY_PAGE_MAX = env.int("ENCLAVE_HISTORY_PAGE_MAX", default=200)
# A message search on PostgreSQL is cancelled after this long (apps/search): 503 search_timeout.
ENCLAVE_SEARCH_TIMEOUT_MS = env.int("ENCLAVE_SEARCH_TIMEOUT_MS", default=5000)

# --- Files: uploads, storage, scanning (apps.files) -------------------------------------------
ENCLAVE_UPLOAD_MAX_BYTES = env.int("ENCLAVE_UPLOAD_MAX_BYTES", default=100 * 1024 * 1024)
ENCLAVE_UPLOAD_USER_QUOTA_BYTES = env.int(
    "ENCLAVE_UPLOAD_USER_QUOTA_BYTES", default=5 * 1024 * 1024 * 1024
)
# Chunks are read into memory: keep them under DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).
ENCLAVE_UPLOAD_CHUNK_BYTES = env.int("ENCLAVE_UPLOAD_CHUNK_BYTES", default=2 * 1024 * 1024)
ENCLAVE_UPLOAD_SESSION_HOURS = env.int("ENCLAVE_UPLOAD_SESSION_HOURS", default=24)
# Larger files go through the resumable upload API (/api/v1/uploads/) in the web client.
ENCLAVE_UPLOAD_CHUNKED_THRESHOLD_BYTES = env.int(
    "ENCLAVE_UPLOAD_CHUNKED_THRESHOLD_BYTES", default=8 * 1024 * 1024
)
# PDF first-page previews (apps/files/pdf_render.py, a child process): larger or longer
# documents, or ones that take longer or more memory to render, get none (still served).
ENCLAVE_PDF_PREVIEW_MAX_BYTES = env.int("ENCLAVE_PDF_PREVIEW_MAX_BYTES", default=50 * 1024 * 1024)
ENCLAVE_PDF_PREVIEW_MAX_PAGES = env.int("ENCLAVE_PDF_PREVIEW_MAX_PAGES", default=2000)
ENCLAVE_PDF_PREVIEW_MAX_PIXELS = env.int("ENCLAVE_PDF_PREVIEW_MAX_PIXELS", default=4_000_000)
ENCLAVE_PDF_PREVIEW_TIMEOUT_SECONDS = env.float("ENCLAVE_PDF_PREVIEW_TIMEOUT_SECONDS", default=20.0)
ENCLAVE_PDF_PREVIEW_MEMORY_BYTES = env.int(
    "ENCLAVE_PDF_PREVIEW_MEMORY_BYTES", default=1024 * 1024 * 1024
)
ENCLAVE_MAX_ATTACHMENTS_PER_MESSAGE = env.int("ENCLAVE_MAX_ATTACHMENTS_PER_MESSAGE", default=10)
ENCLAVE_IMAGE_MAX_PIXELS = env.int("ENCLAVE_IMAGE_MAX_PIXELS", default=50_000_000)
ENCLAVE_THUMBNAIL_SIZE = env.int("ENCLAVE_THUMBNAIL_SIZE", default=400)
# "local" (MEDIA_ROOT) or "s3" (django-storages; needs boto3 and the ENCLAVE_S3_* knobs).
ENCLAVE_FILES_STORAGE = env.str("ENCLAVE_FILES_STORAGE", default="local")
ENCLAVE_FILES_ROOT = Path(env.str("ENCLAVE_FILES_ROOT", default=str(MEDIA_ROOT / "files")))
# Serve downloads through nginx: the response carries X-Accel-Redirect: <prefix>/<name>.
ENCLAVE_FILES_X_ACCEL = env.bool("ENCLAVE_FILES_X_ACCEL", default=False)
ENCLAVE_FILES_X_ACCEL_PREFIX = env.str("ENCLAVE_FILES_X_ACCEL_PREFIX", default="/protected-files")
# Encryption at rest of stored files (apps/files/encryption.py; docs/operations.md "Encryption
# at rest"): key-encryption keys as <key id>:<base64 of 32 bytes>, comma-separated, and the id
# of the one that encrypts new files. Empty (the default): files are stored in the clear. Keep
# every id whose files are not yet re-encrypted (manage.py files_encryption status).
ENCLAVE_FILES_ENCRYPTION_KEYS = env.str("ENCLAVE_FILES_ENCRYPTION_KEYS", default="")
ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY = env.str("ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY", default="")
# Where the key-encryption keys are: "environment" (the two settings above) or "vault"
# (HashiCorp Vault's Transit engine: the keys never leave Vault; apps/files/vault_keyring.py).
ENCLAVE_FILES_KEYRING = env.str("ENCLAVE_FILES_KEYRING", default="environment")
ENCLAVE_FILES_VAULT_ADDR = env.str("ENCLAVE_FILES_VAULT_ADDR", default="")
ENCLAVE_FILES_VAULT_TOKEN = env.str("ENCLAVE_FILES_VAULT_TOKEN", default="")
ENCLAVE_FILES_VAULT_TRANSIT_MOUNT = env.str("ENCLAVE_FILES_VAULT_TRANSIT_MOUNT", default="transit")
ENCLAVE_FILES_VAULT_KEY = env.str("ENCLAVE_FILES_VAULT_KEY", default="enclave-files")
# Objects the re-encryption task examines per batch (one Celery task each).
ENCLAVE_FILES_REENCRYPT_BATCH_SIZE = env.int("ENCLAVE_FILES_REENCRYPT_BATCH_SIZE", default=200)
ENCLAVE_FILES_RETENTION_DAYS = env.int("ENCLAVE_FILES_RETENTION_DAYS", default=30)
ENCLAVE_FILES_RESCAN_DAYS = env.int("ENCLAVE_FILES_RESCAN_DAYS", default=7)
# clamd: "unix:///path/to/clamd.ctl" or "tcp://host:3310". Scanning fails closed: no clamd,
# no clean files.
ENCLAVE_CLAMD_ADDRESS = env.str("ENCLAVE_CLAMD_ADDRESS", default="unix:///run/clamav/clamd.ctl")
ENCLAVE_CLAMD_TIMEOUT_SECONDS = env.float("ENCLAVE_CLAMD_TIMEOUT_SECONDS", default=60.0)
# How long a passed limits probe (apps.files.scanner) is believed before clamd is probed again.
ENCLAVE_CLAMD_PROBE_CACHE_SECONDS = env.float("ENCLAVE_CLAMD_PROBE_CACHE_SECONDS", default=60.0)
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if ENCLAVE_FILES_STORAGE == "s3":
    STORAGES["enclave_files"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("ENCLAVE_S3_BUCKET", default="enclave-files"),
            "endpoint_url": env.str("ENCLAVE_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("ENCLAVE_S3_REGION", default="") or None,
            "access_key": env.str("ENCLAVE_S3_ACCESS_KEY", default="") or None,
            "secret_key": env.str("ENCLAVE_S3_SECRET_KEY", default="") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    STORAGES["enclave_files"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(ENCLAVE_FILES_ROOT), "base_url": None},
    }
CELERY_BEAT_SCHEDULE = {
    "files-rescan-after-signature-update": {
        "task": "apps.files.tasks.rescan_after_signature_update",
        "schedule": env.int("ENCLAVE_FILES_RESCAN_CHECK_SECONDS", default=3600),
    },
    "files-purge-deleted": {
        "task": "apps.files.tasks.purge_deleted_attachments",
        "schedule": 24 * 3600,
    },
    "governance-apply-retention": {
        "task": "apps.governance.tasks.apply_retention",
        "schedule": env.int("ENCLAVE_RETENTION_SCHEDULE_SECONDS", default=3600),
    },
    "governance-expire-compliance-exports": {
        "task": "apps.governance.tasks.expire_compliance_exports",
        "schedule": 3600,
    },
    "governance-purge-expired-data-exports": {
        "task": "apps.governance.tasks.purge_expired_data_exports",
        "schedule": 3600,
    },
    "governance-recover-stalled-exports": {
        "task": "apps.governance.tasks.recover_stalled_exports",
        "schedule": 300,
    },
}

# --- Retention (apps.governance; docs/operations.md "Retention and legal hold") ------------------
# Messages a retention transaction deletes at most (one channel's; senders to it wait for one).
ENCLAVE_RETENTION_BATCH_SIZE = env.int("ENCLAVE_RETENTION_BATCH_SIZE", default=500)
# Transactions a run makes at most; the next run goes on where it stopped.
ENCLAVE_RETENTION_MAX_BATCHES = env.int("ENCLAVE_RETENTION_MAX_BATCHES", default=200)
# Hours a compliance export's ZIP can be downloaded after it was built (docs/operations.md,
# "Compliance export"); then it is deleted and the export shows as expired.
ENCLAVE_COMPLIANCE_EXPORT_TTL_HOURS = env.int("ENCLAVE_COMPLIANCE_EXPORT_TTL_HOURS", default=168)
# How long a user's own data export ("Download my data") may be downloaded before it is deleted.
ENCLAVE_DATA_EXPORT_TTL_HOURS = env.int("ENCLAVE_DATA_EXPORT_TTL_HOURS", default=72)
# Minutes a running export (compliance or personal data) may go without its builder's heartbeat
# before it counts as stalled (its worker died) and is built again (apps/governance/stalled.py).
ENCLAVE_EXPORT_STALL_MINUTES = env.int("ENCLAVE_EXPORT_STALL_MINUTES", default=15)

# --- Logs and metrics (apps/ops/logs.py, apps/ops/metrics.py; README "Metrics and logs") -------
# json: one JSON object per line (deploy/logging/ ships Filebeat, Logstash and an Elasticsearch
# template for it); text: for a terminal. production.py defaults to json.
ENCLAVE_LOG_FORMAT = env.str("ENCLAVE_LOG_FORMAT", default="text")
ENCLAVE_LOG_LEVEL = env.str("ENCLAVE_LOG_LEVEL", default="INFO")
# One line per HTTP request (logger enclave.request: route, status, latency, user, request id).
ENCLAVE_LOG_REQUESTS = env.bool("ENCLAVE_LOG_REQUESTS", default=True)
# Lines of each WebSocket message's way (received, committed, published, delivered in each
# process) under its correlation id, the client_msg_id (logger enclave.messages). Four lines or
# more per message: for tracing a problem, not for 1,000 msg/s.
ENCLAVE_LOG_MESSAGE_TRAIL = env.bool("ENCLAVE_LOG_MESSAGE_TRAIL", default=False)
LOGGING = logging_config(
    log_format=ENCLAVE_LOG_FORMAT,
    level=ENCLAVE_LOG_LEVEL,
    requests=ENCLAVE_LOG_REQUESTS,
    message_trail=ENCLAVE_LOG_MESSAGE_TRAIL,
)
# Celery workers keep this configuration (and its format) instead of installing their own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Several processes (uvicorn workers, Celery) add up their metrics through files in this
# directory (prometheus-client's multiprocess mode); empty: each process counts alone (the
# embedded mode). Empty it when the service (re)starts (README).
ENCLAVE_METRICS_DIR = env.str(
    "ENCLAVE_METRICS_DIR", default=os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
)
if ENCLAVE_METRICS_DIR:
    # Read by prometheus-client when it is imported (after the settings).
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = ENCLAVE_METRICS_DIR
    Path(ENCLAVE_METRICS_DIR).mkdir(parents=True, exist_ok=True)
# /metrics answers these networks, or anyone with `Authorization: Bearer <token>` (empty: no
# token accepted). Requests that came through a proxy need the token.
ENCLAVE_METRICS_ALLOWED_NETWORKS = env.list(
    "ENCLAVE_METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"]
)
ENCLAVE_METRICS_TOKEN = env.str("ENCLAVE_METRICS_TOKEN", default="")
# Metrics read from the database or Redis at scrape time are re-read at most this often.
ENCLAVE_METRICS_CACHE_SECONDS = env.float("ENCLAVE_METRICS_CACHE_SECONDS", default=30.0)
SPECTACULAR_SETTINGS.update(
    {
        # Self-hosted: the API docs load Swagger UI from our own static files, never a CDN.
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        "ENUM_NAME_OVERRIDES": {
            "ChannelKindEnum": "apps.chat.models.ChannelKind",
            "ChannelRoleEnum": "apps.chat.models.ChannelRole",
            "OrgRoleEnum": "apps.accounts.models.Role",
            "NotificationLevelEnum": "apps.chat.models.NotificationLevel",
            "AttachmentStatusEnum": "apps.files.serializers.STATUS_CHOICES",
        },
    }
)

# --- Brute-force protection (django-axes) and two-factor authentication (django-otp) -------------
AXES_FAILURE_LIMIT = env.int("ENCLAVE_LOGIN_FAILURE_LIMIT", default=5)
# 0 = locked until an administrator unlocks the account (admin: Users -> "Unlock").
_LOCKOUT_MINUTES = env.int("ENCLAVE_LOGIN_LOCKOUT_MINUTES", default=30)
AXES_COOLOFF_TIME = timedelta(minutes=_LOCKOUT_MINUTES) if _LOCKOUT_MINUTES > 0 else None
# "username": an account locks whoever tries (stops password spraying from many addresses);
# "username_ip": only that account from that address (no lock-out of others as a nuisance).
AXES_LOCKOUT_PARAMETERS = (
    ["username"]
    if env.str("ENCLAVE_LOGIN_LOCKOUT_BY", default="username_ip") == "username"
    else [["username", "ip_address"]]
)
AXES_RESET_ON_SUCCESS = True
# Counts failures like django-axes' own handler, except those the directory could not judge
# because it was unreachable (an outage must not lock people out).
AXES_HANDLER = "apps.accounts.backends.LockoutHandler"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
OTP_TOTP_ISSUER = env.str("ENCLAVE_OTP_ISSUER", default="Enclave")
ENCLAVE_INVITATION_DAYS = env.int("ENCLAVE_INVITATION_DAYS", default=7)
ENCLAVE_PASSWORD_RESET_PER_IP = env.int("ENCLAVE_PASSWORD_RESET_PER_IP", default=10)
ENCLAVE_PASSWORD_RESET_PER_EMAIL = env.int("ENCLAVE_PASSWORD_RESET_PER_EMAIL", default=3)

# The directory sync joins the beat schedule (defined above) only when LDAP is configured.
if ENCLAVE_LDAP["SERVER_URI"] and ENCLAVE_LDAP["SYNC_INTERVAL_MINUTES"] > 0:
    CELERY_BEAT_SCHEDULE["accounts-directory-sync"] = {
        "task": "apps.accounts.tasks.directory_sync_task",
        "schedule": 60.0 * ENCLAVE_LDAP["SYNC_INTERVAL_MINUTES"],
    }

# --- Backups and restore drills (apps.ops.backups; runbooks in docs/operations.md) --------------
ENCLAVE_BACKUP_DIR = Path(env.str("ENCLAVE_BACKUP_DIR", default=str(VAR_DIR / "backups")))
# base64 of 32 random bytes (`manage.py backup --generate-key`). Every backup is encrypted with
# it (AES-256-GCM): without it no backup is taken, and without a copy of it none can be restored.
ENCLAVE_BACKUP_KEY = env.str("ENCLAVE_BACKUP_KEY", default="")
# A second location for every backup: a directory (another disk, a mount) or an rsync target
# (host:/path, user@host:/path, rsync://host/module/path); empty = none.
ENCLAVE_BACKUP_COPY_TO = env.str("ENCLAVE_BACKUP_COPY_TO", default="")
# Retention: the newest backup of each of the last N days, ISO weeks and months (UTC).
ENCLAVE_BACKUP_KEEP_DAILY = env.int("ENCLAVE_BACKUP_KEEP_DAILY", default=7)
ENCLAVE_BACKUP_KEEP_WEEKLY = env.int("ENCLAVE_BACKUP_KEEP_WEEKLY", default=4)
ENCLAVE_BACKUP_KEEP_MONTHLY = env.int("ENCLAVE_BACKUP_KEEP_MONTHLY", default=6)
# Celery beat schedules, as five crontab fields in UTC (minute hour day-of-month month
# day-of-week); empty = not scheduled.
ENCLAVE_BACKUP_SCHEDULE = env.str("ENCLAVE_BACKUP_SCHEDULE", default="30 2 * * *")
ENCLAVE_BACKUP_DRILL_SCHEDULE = env.str("ENCLAVE_BACKUP_DRILL_SCHEDULE", default="30 4 * * *")


def _crontab(setting: str, expression: str) -> Any:
    from celery.schedules import crontab
    from django.core.exceptions import ImproperlyConfigured

    fields = expression.split()
    if len(fields) != 5:
        raise ImproperlyConfigured(f"{setting} needs five crontab fields, got {expression!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )


if ENCLAVE_BACKUP_SCHEDULE.strip():
    CELERY_BEAT_SCHEDULE["ops-backup"] = {
        "task": "apps.ops.tasks.backup_task",
        "schedule": _crontab("ENCLAVE_BACKUP_SCHEDULE", ENCLAVE_BACKUP_SCHEDULE),
    }
if ENCLAVE_BACKUP_DRILL_SCHEDULE.strip():
    CELERY_BEAT_SCHEDULE["ops-restore-drill"] = {
        "task": "apps.ops.tasks.restore_drill_task",
        "schedule": _crontab("ENCLAVE_BACKUP_DRILL_SCHEDULE", ENCLAVE_BACKUP_DRILL_SCHEDULE),
    }

# --- Feature flags (gray release: django-waffle with Enclave's flag model, apps/ops) ----------
# A flag is read per user (a fixed per-user bucket for percentages), never per browser cookie,
# so waffle's middleware is not installed and a page that reads no flag costs nothing. Flags
# are cached in the default cache (Redis in production) and dropped from it when changed.
WAFFLE_FLAG_MODEL = "ops.FeatureFlag"
WAFFLE_ENABLE_ADMIN_PAGES = False  # apps/ops/admin.py has the audited flag admin
WAFFLE_FLAG_DEFAULT = False  # a flag nobody created is off
WAFFLE_OVERRIDE = False  # no ?flag=1 in URLs

# --- Calls (apps/calls; README "Calls") --------------------------------------------------------
# How long a call rings before it is missed; how long a participant's client may stay silent
# (it sends a heartbeat every 15 s) before the sweep ends the call as lost.
ENCLAVE_CALL_RING_SECONDS = env.int("ENCLAVE_CALL_RING_SECONDS", default=45)
ENCLAVE_CALL_STALE_SECONDS = env.int("ENCLAVE_CALL_STALE_SECONDS", default=60)
ENCLAVE_CALL_SWEEP_SECONDS = env.int("ENCLAVE_CALL_SWEEP_SECONDS", default=15)
# How long a meeting's page tries to get its media back after losing Janus (a network blip)
# before it leaves; shorter than ENCLAVE_CALL_STALE_SECONDS less a heartbeat (apps/calls/checks.py),
# so the sweep never drops someone still reconnecting.
ENCLAVE_MEETING_RECONNECT_SECONDS = env.int("ENCLAVE_MEETING_RECONNECT_SECONDS", default=40)
# ICE servers handed to browsers (GET /api/v1/calls/ice-servers/). TURN credentials follow
# coturn's TURN REST API (use-auth-secret + static-auth-secret = ENCLAVE_TURN_SECRET): valid for
# ENCLAVE_TURN_TTL_SECONDS; without a secret or URLs no TURN server is offered.
ENCLAVE_STUN_URLS = env.list("ENCLAVE_STUN_URLS", default=[])
ENCLAVE_TURN_URLS = env.list("ENCLAVE_TURN_URLS", default=[])
ENCLAVE_TURN_SECRET = env.str("ENCLAVE_TURN_SECRET", default="")
ENCLAVE_TURN_TTL_SECONDS = env.int("ENCLAVE_TURN_TTL_SECONDS", default=86400)
# "relay": browsers send all media through TURN (no host or reflexive candidates: the people in
# a call never learn each other's addresses); "all": the direct path when there is one.
ENCLAVE_CALL_ICE_TRANSPORT_POLICY = env.str("ENCLAVE_CALL_ICE_TRANSPORT_POLICY", default="all")
# Meetings and live classrooms go through Janus' VideoRoom (an SFU). Enclave talks to its HTTP
# API (rooms, with ENCLAVE_JANUS_API_SECRET) and admin API (per-participant tokens, with
# ENCLAVE_JANUS_ADMIN_SECRET); browsers reach its WebSocket transport at ENCLAVE_JANUS_PUBLIC_URL
# with their token. ENCLAVE_JANUS_ADMIN_KEY is the VideoRoom plugin's admin_key (room creation).
# Without ENCLAVE_JANUS_API_URL there are no meetings (1:1 calls still work).
ENCLAVE_JANUS_API_URL = env.str("ENCLAVE_JANUS_API_URL", default="")
ENCLAVE_JANUS_ADMIN_URL = env.str("ENCLAVE_JANUS_ADMIN_URL", default="")
ENCLAVE_JANUS_API_SECRET = env.str("ENCLAVE_JANUS_API_SECRET", default="")
ENCLAVE_JANUS_ADMIN_SECRET = env.str("ENCLAVE_JANUS_ADMIN_SECRET", default="")
ENCLAVE_JANUS_ADMIN_KEY = env.str("ENCLAVE_JANUS_ADMIN_KEY", default="")
ENCLAVE_JANUS_PUBLIC_URL = env.str("ENCLAVE_JANUS_PUBLIC_URL", default="")
ENCLAVE_JANUS_TIMEOUT_SECONDS = env.float("ENCLAVE_JANUS_TIMEOUT_SECONDS", default=5.0)
# How many may publish at once in a meeting (a classroom's stage is the host and presenters).
ENCLAVE_MEETING_MAX_PUBLISHERS = env.int("ENCLAVE_MEETING_MAX_PUBLISHERS", default=16)
CELERY_BEAT_SCHEDULE["calls-sweep"] = {
    "task": "apps.calls.tasks.sweep_calls",
    "schedule": ENCLAVE_CALL_SWEEP_SECONDS,
}

# --- The IT admin's overview (/admin/overview/, apps/ops/selectors.py) -------------------------
# Grafana's address: the overview links to its Enclave dashboards; empty = no links.
ENCLAVE_GRAFANA_URL = env.str("ENCLAVE_GRAFANA_URL", default="")

# --- Outbound requests (apps/core/egress.py) and integrations (apps/integrations) ---------------
# Every request the server makes (webhooks, slash commands, link previews) goes through the egress
# guard, which refuses loopback, link-local (metadata), private and other non-public addresses
# unless a host (exact or *.suffix) or network (CIDR) is on this list or the organisation's list
# (admin: Integrations settings).
ENCLAVE_EGRESS_ALLOWED_HOSTS = env.list("ENCLAVE_EGRESS_ALLOWED_HOSTS", default=[])
ENCLAVE_EGRESS_CA_FILE = env.str("ENCLAVE_EGRESS_CA_FILE", default="")
# Outgoing webhooks, custom slash commands and button clicks: time and answer size per call.
ENCLAVE_INTEGRATION_TIMEOUT_SECONDS = env.float("ENCLAVE_INTEGRATION_TIMEOUT_SECONDS", default=5.0)
ENCLAVE_INTEGRATION_MAX_RESPONSE_BYTES = env.int(
    "ENCLAVE_INTEGRATION_MAX_RESPONSE_BYTES", default=256 * 1024
)
# Incoming webhooks: the largest body accepted (413 above it).
ENCLAVE_WEBHOOK_MAX_BODY_BYTES = env.int("ENCLAVE_WEBHOOK_MAX_BODY_BYTES", default=512 * 1024)
# Link previews: only hosts on the organisation's preview list are fetched.
ENCLAVE_LINK_PREVIEW_TIMEOUT_SECONDS = env.float(
    "ENCLAVE_LINK_PREVIEW_TIMEOUT_SECONDS", default=4.0
)
ENCLAVE_LINK_PREVIEW_MAX_BYTES = env.int("ENCLAVE_LINK_PREVIEW_MAX_BYTES", default=512 * 1024)
# --- Analytics (apps/analytics; README "Analytics") ---------------------------------------------
# Each run re-summarises this many days before today as well (tickets opened then may since
# have been solved); older days are summarised once.
ENCLAVE_ANALYTICS_RECOMPUTE_DAYS = env.int("ENCLAVE_ANALYTICS_RECOMPUTE_DAYS", default=2)
CELERY_BEAT_SCHEDULE["analytics-refresh"] = {
    "task": "apps.analytics.tasks.refresh_analytics",
    "schedule": 15 * 60,
}
# --- The assistant (apps/assistant) -------------------------------------------------------------
# The address people open Enclave at: the assistant's citations link to messages under it.
ENCLAVE_PUBLIC_URL = env.str("ENCLAVE_PUBLIC_URL", default="http://localhost:8000")
# How often (seconds) a streamed answer's message is rewritten while the model writes it.
ENCLAVE_ASSISTANT_STREAM_EDIT_SECONDS = env.float(
    "ENCLAVE_ASSISTANT_STREAM_EDIT_SECONDS", default=1.0
)
# The text of clean uploaded files (PDF, DOCX, Markdown, plain text) the assistant answers from:
# files larger than this are not read; the text kept of one file stops at this many characters.
ENCLAVE_ASSISTANT_FILE_MAX_BYTES = env.int("ENCLAVE_ASSISTANT_FILE_MAX_BYTES", default=20_000_000)
ENCLAVE_ASSISTANT_FILE_MAX_CHARS = env.int("ENCLAVE_ASSISTANT_FILE_MAX_CHARS", default=200_000)
# --- Reminders (apps/workspace/reminders.py) ----------------------------------------------------
# How often (seconds) the beat looks for due reminders: a reminder arrives at most this late.
ENCLAVE_REMINDER_CHECK_SECONDS = env.float("ENCLAVE_REMINDER_CHECK_SECONDS", default=20.0)
CELERY_BEAT_SCHEDULE["workspace-reminders"] = {
    "task": "apps.workspace.tasks.deliver_due_reminders",
    "schedule": ENCLAVE_REMINDER_CHECK_SECONDS,
}
# --- E-mail digests (apps/workspace/digests.py; README "E-mail") ---------------------------------
# Unread direct messages and mentions are e-mailed once they are this old (and still unread).
ENCLAVE_DIGEST_DELAY_MINUTES = env.int("ENCLAVE_DIGEST_DELAY_MINUTES", default=30)
# How often (seconds) the beat looks for digests due: one arrives at most this much later.
ENCLAVE_DIGEST_CHECK_SECONDS = env.float("ENCLAVE_DIGEST_CHECK_SECONDS", default=300.0)
CELERY_BEAT_SCHEDULE["workspace-email-digests"] = {
    "task": "apps.workspace.tasks.send_email_digests",
    "schedule": ENCLAVE_DIGEST_CHECK_SECONDS,
}
# --- Outgoing e-mail (invitations, password resets, digests; README "E-mail") --------------------
# The embedded default prints each e-mail on the console: nothing leaves the machine
# (django.core.mail.backends.filebased.EmailBackend writes them to ENCLAVE_EMAIL_FILE_PATH instead).
# Production's default is SMTP (config/settings/production.py) with the server below.
EMAIL_BACKEND = env.str(
    "ENCLAVE_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
EMAIL_FILE_PATH = env.str("ENCLAVE_EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
EMAIL_HOST = env.str("ENCLAVE_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("ENCLAVE_EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("ENCLAVE_EMAIL_USER", default="")
EMAIL_HOST_PASSWORD = env.str("ENCLAVE_EMAIL_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("ENCLAVE_EMAIL_USE_TLS", default=False)  # STARTTLS (port 587)
EMAIL_USE_SSL = env.bool("ENCLAVE_EMAIL_USE_SSL", default=False)  # TLS from the start (465)
# A mail server that does not answer in time fails the e-mail (a digest is retried next run).
EMAIL_TIMEOUT = env.float("ENCLAVE_EMAIL_TIMEOUT_SECONDS", default=10.0)
DEFAULT_FROM_EMAIL = env.str("ENCLAVE_DEFAULT_FROM_EMAIL", default="enclave@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
