"""Settings shared by every mode. Every knob comes from the environment (see .env.example).

With no environment at all Enclave runs in the embedded default: SQLite (WAL), an in-process
channel layer, Celery tasks executed eagerly and files on local disk.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.utils.translation import gettext_lazy as _

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
    "apps.core",
    "apps.accounts",
    "apps.chat",
    "apps.files",
    "apps.search",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.core.middleware.ContentSecurityPolicyMiddleware",
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

# --- Redis: channel layer, cache, Celery broker ----------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "capacity": env.int("ENCLAVE_CHANNEL_CAPACITY", default=1000),
                "expiry": 30,
                "prefix": env.str("ENCLAVE_CHANNEL_PREFIX", default="enclave"),
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "apps.core.cache.SharedRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "enclave",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Real-time fan-out (apps.core.realtime): one Redis pub/sub channel shared by every app process;
# empty = in-process delivery (the embedded mode). The prefix separates installations that
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
    "TIMEOUT_SECONDS": env.int("ENCLAVE_LDAP_TIMEOUT_SECONDS", default=5),
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
    "SYNC_INTERVAL_MINUTES": env.int("ENCLAVE_LDAP_SYNC_INTERVAL_MINUTES", default=60),
}
AUTHENTICATION_BACKENDS = [
    # First: refuses every backend's log-in while the account is locked out (django-axes).
    "apps.accounts.backends.LockoutBackend",
    *(["apps.accounts.ldap_backend.DirectoryBackend"] if ENCLAVE_LDAP["SERVER_URI"] else []),
    "apps.accounts.backends.LocalBackend",
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
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["apps.core.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("ENCLAVE_API_RATE", default="6000/min")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Enclave API",
    "DESCRIPTION": (
        "REST API v1 of Enclave. The WebSocket protocol at /ws/ is documented in DESIGN.md §3-4 "
        "and in the README; every WebSocket operation has a REST twin here."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}

# --- Enclave knobs ----------------------------------------------------------------------------
ENCLAVE_MAX_MESSAGE_CHARS = env.int("ENCLAVE_MAX_MESSAGE_CHARS", default=10_000)
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
# event loop and threads five times (apps/core/asgi_handler.py).
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
# CPython collector thresholds of the ASGI server process (apps/core/gctune.py); empty leaves
# the collector alone (CPython's 700,10,10, no freeze).
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
ENCLAVE_FILES_RETENTION_DAYS = env.int("ENCLAVE_FILES_RETENTION_DAYS", default=30)
ENCLAVE_FILES_RESCAN_DAYS = env.int("ENCLAVE_FILES_RESCAN_DAYS", default=7)
# clamd: "unix:///path/to/clamd.ctl" or "tcp://host:3310". Scanning fails closed: no clamd,
# no clean files.
ENCLAVE_CLAMD_ADDRESS = env.str("ENCLAVE_CLAMD_ADDRESS", default="unix:///run/clamav/clamd.ctl")
ENCLAVE_CLAMD_TIMEOUT_SECONDS = env.float("ENCLAVE_CLAMD_TIMEOUT_SECONDS", default=60.0)
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
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("ENCLAVE_LOG_LEVEL", default="INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
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
