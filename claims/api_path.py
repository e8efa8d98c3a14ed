"""The JSON eligibility look-up's own, shorter request path (issue 10 §5: hundreds of look-ups a second).

`EligibilityApiMiddleware` sits right after SecurityMiddleware (SSL redirect, HSTS, nosniff still apply). For the
one path ``/api/eligibility/`` it runs the middleware that protect the look-up — the same classes, in the same
order as in settings.MIDDLEWARE — and calls the view itself; every other request goes down the full stack.

Kept: SessionMiddleware (the session cookie is the hospital system's login), CommonMiddleware (the host checked
against ALLOWED_HOSTS, DISALLOWED_USER_AGENTS, and the answer's Content-Length, so the server sends the body whole
instead of in chunks), CsrfViewMiddleware (the ``X-CSRFToken`` header, checked by Django's own code, process_view
included), AuthenticationMiddleware (``request.user``, needed when the per-user access cache is cold),
RefuseControlCharactersMiddleware and XFrameOptionsMiddleware.
Left out, because they do nothing for this path: WhiteNoise (static files only), MessageMiddleware (JSON shows no
messages), HistoryRequestMiddleware (the look-up writes no history rows: its record is an append-only table of its
own), AxesMiddleware (it guards log-ins; the look-up takes no password), and URL resolution (one fixed path; the
URL pattern ``api-eligibility`` stays in config/urls.py and names the same view).
"""

from __future__ import annotations

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import DEFAULT_DB_ALIAS, connections
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse

from enrollment.middleware import RefuseControlCharactersMiddleware


class EligibilityApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.path = None  # reversed on first use: the URLconf is not loaded while middleware are built
        chain = self._view
        for middleware in (XFrameOptionsMiddleware, RefuseControlCharactersMiddleware, AuthenticationMiddleware):
            chain = middleware(chain)
        self.csrf = CsrfViewMiddleware(chain)
        self.chain = SessionMiddleware(CommonMiddleware(self.csrf))

    def __call__(self, request):
        if self.path is None:
            self.path = reverse("api-eligibility")
        if request.path != self.path:  # both carry the script prefix, if the site is mounted under one
            return self.get_response(request)
        # No per-request health check (CONN_HEALTH_CHECKS' ``SELECT 1``): it was a third round trip to
        # PostgreSQL beside the look-up and its record, a quarter of a worker's time under load. A connection the
        # server dropped fails this one look-up; Django closes it at the end of the request (errors_occurred)
        # and the next request reconnects. Admin pages keep the check.
        connections[DEFAULT_DB_ALIAS].health_check_done = True
        return self.chain(request)

    def _view(self, request):
        from .eligibility import eligibility_api

        # As the handler does: every process_request has run, CSRF's process_view decides before the view.
        refused = self.csrf.process_view(request, eligibility_api, (), {})
        return refused if refused is not None else eligibility_api(request)
