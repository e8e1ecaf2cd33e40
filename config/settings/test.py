"""Test settings: the same as base, with fast password hashing.

The database and the real-time bus follow DATABASE_URL / REDIS_URL like every other mode, so the
same suite runs on the embedded default and on PostgreSQL + Redis.
"""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
# No test scans with a clamd it did not start (tests/files/clamd_server.py): a system clamd
# would make results depend on the machine. Scans without one fail closed.
ENCLAVE_CLAMD_ADDRESS = "unix:///nonexistent/enclave-test-clamd.sock"
# Throttling stays on (its tests need it); tests that log in repeatedly clear the cache.
# SQLite tests use Django's shared in-memory database (fast, private to each xdist worker).

# Each pytest-xdist worker gets its own Redis database, so real-time topics ("chan.1") and
# presence keys of parallel workers, whose test databases reuse the same ids, never meet.
import os  # noqa: E402
from urllib.parse import urlparse, urlunparse  # noqa: E402

from .base import CACHES, REDIS_URL  # noqa: E402

if REDIS_URL:
    _worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or "0"
    # ENCLAVE_TEST_REDIS_OFFSET moves a whole run to other databases and prefixes, so that two
    # suites running at once on one machine (two checkouts, two developers) never meet either.
    _offset = int(os.environ.get("ENCLAVE_TEST_REDIS_OFFSET", "0"))
    _worker = str(int(_worker) + _offset)
    REDIS_URL = urlunparse(urlparse(REDIS_URL)._replace(path=f"/{1 + int(_worker) % 15}"))
    CACHES["default"]["LOCATION"] = REDIS_URL
    # Pub/sub channels are not per database: the prefix keeps workers apart.
    ENCLAVE_REALTIME_URL = REDIS_URL
    ENCLAVE_REALTIME_PREFIX = f"enclave-test-gw{_worker}"

# pytest imports the ASGI application: leave the test process's collector alone.
ENCLAVE_GC_THRESHOLDS = ()
