"""`/healthz`: whether this process can reach what it needs — for a load balancer or a container's probe.

No login and no data in the answer (only which dependency failed), so it may be exposed to the monitoring network;
every check has a short timeout so a dead dependency answers 503 quickly instead of hanging the probe.
"""

import logging

from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

BROKER_TIMEOUT_SECONDS = 2.0
logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        # Any failure means "not reachable"; the reason goes to the server log, never into the public answer.
        logger.warning("health check: database unreachable", exc_info=True)
        return False


def _broker_ok() -> bool:
    # Imported here so a process without a broker never loads kombu's transports for a probe.
    from config.celery import app

    try:
        # The URL of the settings, not Celery's own resolution, so the answer is about what this process was given.
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS)
        return True
    except Exception:
        logger.warning("health check: broker unreachable", exc_info=True)
        return False


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database_ok()}
    # Without a broker the tasks run in-process (the embedded default): there is nothing to reach.
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        checks["broker"] = _broker_ok()
    healthy = all(checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable",
                         "checks": {name: "ok" if ok else "unreachable" for name, ok in checks.items()}},
                        status=200 if healthy else 503)
