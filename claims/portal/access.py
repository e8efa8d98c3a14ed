"""Who may use the portal: a logged-in, active user linked to a hospital."""

from __future__ import annotations

from functools import wraps

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.translation import gettext as _

from enrollment.scoping import user_hospital_id

from ..models import Hospital


def hospital_of(user) -> Hospital | None:
    hospital_id = user_hospital_id(user)
    if hospital_id is None:
        return None
    return Hospital.objects.select_related("region").filter(pk=hospital_id).first()


def portal_view(perm: str | None = None):
    """Require a hospital user (and `perm`); the view gets the user's hospital as ``request.hospital``."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("hospital:login"))
            hospital = hospital_of(request.user)
            if hospital is None:
                raise PermissionDenied(_("The hospital portal is for users linked to a hospital."))
            if perm is not None and not request.user.has_perm(perm):
                raise PermissionDenied(_("You may not do this."))
            request.hospital = hospital
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def portal_context(request, **extra) -> dict:
    """What the admin's templates need, without the admin's app list (a hospital user is not bureau staff)."""
    return {
        "site_header": admin.site.site_header,
        "site_title": admin.site.site_title,
        "site_url": None,
        "has_permission": False,
        "is_nav_sidebar_enabled": False,
        "is_popup": False,
        "available_apps": [],
        "hospital": getattr(request, "hospital", None),
        **extra,
    }
