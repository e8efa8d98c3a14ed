"""Closing a policy version (截止政策版本) and opening its successor as a copy.

A version that settled claims is frozen (the claims app's edit guard): its rules stay exactly as the settlements
used them. Closing it — setting its end date, on or after the last date of service it settled — is still allowed,
and a policy change then goes into a successor: a copy of the version and all its rules, in force from the day
after, edited freely until it settles its own claims. Apps above enrollment copy their own rules of a version
(the claims app its benefit rules) by listening to ``version_copied``.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.dispatch import Signal
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from ..models import CostShareRule, PolicyVersion, SubsidyRule
from ..scoping import user_can_reach_region

#: Sent inside the transaction after a version and enrollment's rules were copied: ``original``, ``copy``, ``by``.
version_copied = Signal()


def copy_rows(model, *, original: PolicyVersion, copy: PolicyVersion, by) -> int:
    """Copy every row of ``model`` (a rule table with a ``policy`` foreign key) from one version to another."""
    rows = []
    for row in model.objects.filter(policy=original):
        row.pk = None
        row.id = None
        row.policy = copy
        rows.append(row)
    bulk_create_with_history(rows, model, default_user=by)
    return len(rows)


@transaction.atomic
def close_version(*, version: PolicyVersion, end_on: dt.date, by, successor_code: str = "",
                  successor_name: str = "") -> PolicyVersion | None:
    """Set ``version``'s end date; with ``successor_code``, open a copy of it from the next day. Returns the copy.

    Refused when the user may not change versions of that region, when the end date is before the version
    starts or (for a version that settled claims) before the last date of service it settled, or when the version
    already ends earlier.
    """
    if not by.has_perm("enrollment.change_policyversion") or not user_can_reach_region(by, version.region):
        raise PermissionDenied(_("You may not close policy versions of %(region)s.") % {"region": version.region})
    version = PolicyVersion.objects.select_for_update().get(pk=version.pk)
    if end_on < version.effective_from:
        raise ValidationError(_("The end date %(date)s is before the version starts (%(start)s).")
                              % {"date": end_on, "start": version.effective_from}, code="end_before_start")
    if version.effective_to is not None and version.effective_to <= end_on:
        raise ValidationError(_("Version %(code)s already ends on %(date)s.")
                              % {"code": version.code, "date": version.effective_to}, code="already_closed")
    version.effective_to = end_on
    version._history_user = by
    version._change_reason = _("Closed on %(date)s") % {"date": end_on}
    version.save()  # the claims app's guard refuses an end before the last settled date of service
    if not successor_code:
        return None
    original = PolicyVersion.objects.get(pk=version.pk)
    categories = list(original.green_channel_categories.all())
    copy = PolicyVersion.objects.get(pk=version.pk)
    copy.pk = None
    copy.id = None
    copy.code = successor_code.strip()
    copy.name = (successor_name or "").strip() or original.name
    copy.effective_from = end_on + dt.timedelta(days=1)
    copy.effective_to = None
    copy.notes = _("Copied from %(code)s, which ends on %(date)s.") % {"code": original.code, "date": end_on}
    if hasattr(copy, "source_file"):
        copy.source_file = ""
    copy.full_clean()
    copy._history_user = by
    copy.save()
    copy.green_channel_categories.set(categories)
    for model in (SubsidyRule, CostShareRule):
        copy_rows(model, original=original, copy=copy, by=by)
    version_copied.send(sender=PolicyVersion, original=original, copy=copy, by=by)
    return copy
