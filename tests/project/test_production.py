"""The production pieces: health check, static files through WhiteNoise with DEBUG off, the web server."""

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from config import health

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_broker(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the embedded default: tasks run in-process, nothing to reach


@pytest.mark.django_db
def test_healthz_answers_without_login_and_without_data(no_broker, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        response = Client().get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_fails(no_broker, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OSError("connection refused")

    from django.db import connections
    monkeypatch.setattr(connections["default"], "cursor", broken_cursor)
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "unreachable"}}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_healthz_checks_a_configured_broker(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/9"
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "unreachable"}


@pytest.mark.django_db
def test_healthz_reaches_a_live_broker(settings):
    from tests.conftest import require

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/9")
    require(health._broker_ok(), f"Redis at {settings.CELERY_BROKER_URL}")
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_healthz_refuses_writes(db):
    assert Client().post("/healthz").status_code == 405


def test_whitenoise_serves_the_admin_static_files_with_debug_off(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
    call_command("collectstatic", interactive=False, verbosity=0)
    from django.contrib.staticfiles.storage import staticfiles_storage
    hashed = staticfiles_storage.url("admin/css/base.css")
    assert hashed != "/static/admin/css/base.css", "the manifest storage should give a hashed name"
    # WhiteNoise reads STATIC_ROOT when the middleware is built, i.e. by a fresh handler under these settings.
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False):
        client = Client()
        response = client.get(hashed)
        assert response.status_code == 200
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert b"body" in body
        assert "max-age=315360000" in response["Cache-Control"]  # hashed names are cached for ever
        compressed = client.get(hashed, headers={"accept-encoding": "gzip"})
        assert compressed["Content-Encoding"] in ("gzip", "br")
        assert client.get("/static/admin/css/no-such-file.css").status_code == 404


def _readme_web_command() -> list[str]:
    """The web server's line of README.md's Production block, as a newcomer would copy it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Production", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    line = next(line for line in block.splitlines() if re.search(r"#\s*web\s*$", line))
    return shlex.split(line.split("#", 1)[0])


def test_the_production_web_server_serves_the_app(tmp_path):
    """The README's web command, run as written (granian) after its collectstatic, answers the health check and
    the login page (static files' hashed names and all) and logs both requests; only the address, port and
    database differ."""
    command = _readme_web_command()
    assert command[0] == "granian", command
    port = _closed_port()
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    command[0] = str(Path(sys.executable).with_name("granian"))
    env = {key: value for key, value in os.environ.items()
           if key not in ("CELERY_BROKER_URL", "CACHE_URL", "DEBUG")}
    env.update({"DJANGO_ENV": "production", "SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "127.0.0.1",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "SECURE_SSL_REDIRECT": "0",
                "STATIC_ROOT": str(tmp_path / "static"), "PYTHONUNBUFFERED": "1"})
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], env=env, cwd=ROOT, check=True)
    server = subprocess.Popen(command, env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                    status, body = answer.status, answer.read()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "the server did not answer within a minute"
                time.sleep(0.3)
        assert status == 200
        assert b'"status": "ok"' in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5) as answer:
            assert answer.status == 200
            page = answer.read().decode()
        assert "登录" in page
        stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]+\.css)"', page).group(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{stylesheet}", timeout=5) as answer:
            assert answer.status == 200  # WhiteNoise's file, streamed through the server
            assert b"body" in answer.read()
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "GET /healthz" in output and "GET /admin/login/" in output, output  # the access log
