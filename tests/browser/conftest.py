"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

Playwright's own browser download does not work on our machines and CI, so the system Chromium is launched by
path. Where it is missing the tests skip on a developer's machine and fail in CI (``require``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connections
from django.test.utils import override_settings
from playwright.sync_api import sync_playwright

from tests.conftest import require

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # Chromium's sandbox refuses to run as root and needs user namespaces containers often lack
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEFAULT_TIMEOUT_MS = 10_000


@pytest.fixture
def _async_unsafe_allowed(monkeypatch):
    """Let the test thread use the ORM while Playwright runs.

    Playwright's sync API keeps an asyncio event loop running in the test's thread (in a greenlet) from start to
    stop, and Django refuses ORM calls from a thread with a running loop (SynchronousOnlyOperation), because in
    async code they would block the loop. Nothing async shares this thread: the test's own queries (seeding and
    cross-checks) are ordinary blocking calls between browser steps, and the live server answers the browser from
    its own thread. Set per test, not for the session, so every other test keeps Django's guard.
    """
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def _no_ssl_redirect_in_live_server():
    """The live server speaks plain HTTP to a DEBUG-off site, whose SecurityMiddleware redirects to HTTPS.

    tests/conftest.py turns SECURE_SSL_REDIRECT off per test, but the middleware reads it once, when the handler is
    built: pytest-django's live server is session-scoped and builds its handler before any per-test override, so the
    setting must be off while it starts. It stays off for the session, as every test sets it anyway.
    """
    with override_settings(SECURE_SSL_REDIRECT=False):
        yield


@pytest.fixture(scope="session")
def live_server(_no_ssl_redirect_in_live_server, live_server):
    """pytest-django's live server (one per session), started without the HTTPS redirect. Only tests under
    tests/browser get this override: keep every live_server test here."""
    return live_server


@pytest.fixture
def _plain_http_cookies(settings):
    """The live server speaks plain HTTP, and the DEBUG-off settings mark the session and CSRF cookies Secure; a
    browser need not send those over HTTP (Chromium happens to for localhost only), so the test turns the flag off
    rather than depend on that exception."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


@pytest.fixture
def browser(_async_unsafe_allowed):
    require(CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK), f"the system Chromium ({CHROMIUM}) is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
            # While Playwright's loop runs, Django keeps this thread's connections in a separate, context-local
            # store (asgiref's Local does so whenever a loop is running), so the test body opened its own
            # connection. Once the loop stops it can no longer be reached and would stay open, and PostgreSQL
            # then refuses to drop the test database ("being accessed by other users"): close it now.
            connections.close_all()


@pytest.fixture
def page(browser, live_server, _plain_http_cookies):
    """A fresh browser tab on the live server, asking for English (the msgid language the tests assert in)."""
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
