"""Playwright's `expect` (and its error), importable even where Playwright is not installed.

Without the package, every test here is marked `browser`, so the gate in tests/conftest.py skips
it with a reason (or fails it under ENCLAVE_REQUIRE_SERVICES=1) before `expect` is ever called.
"""

from __future__ import annotations

from typing import Any

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the gate reports it
    expect: Any = None  # type: ignore[no-redef]
    PlaywrightError: Any = Exception  # type: ignore[no-redef]

__all__ = ["PlaywrightError", "expect"]
