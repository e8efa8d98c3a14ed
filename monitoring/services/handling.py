"""Handling of warning items: 待核实 → 已核实 / 不纳入 (with a reason) → 帮扶中 → 已销号, assignment and notes.

Every function takes the acting user as ``by=``, checks the permission and the region itself, locks the item and
saves it with history (who, when, what).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from enrollment.scoping import scope_queryset, user_can_reach_region

from ..models import ItemStatus, WarningItem

#: status → the statuses an item may move to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    ItemStatus.PENDING: (ItemStatus.VERIFIED, ItemStatus.EXCLUDED),
    ItemStatus.VERIFIED: (ItemStatus.ASSISTING, ItemStatus.CLOSED),
    ItemStatus.ASSISTING: (ItemStatus.CLOSED,),
    ItemStatus.EXCLUDED: (),
    ItemStatus.CLOSED: (),
}

HANDLE_PERMISSION = "monitoring.handle_warningitem"


def _check(by, item: WarningItem) -> None:
    if not by.has_perm(HANDLE_PERMISSION):
        raise PermissionDenied(_("You may not handle warning items."))
    if not user_can_reach_region(by, item.region):
        raise PermissionDenied(_("This item belongs to a region outside yours."))


def _locked(item_id: int) -> WarningItem:
    return WarningItem.objects.select_for_update().select_related("region").get(pk=item_id)


def _append_note(item: WarningItem, by, text: str) -> None:
    if text:
        stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M")
        item.notes = f"{item.notes}\n[{stamp} {by.get_username()}] {text}".strip()


def move_item(*, item: WarningItem, to: str, by, note: str = "", reason: str = "") -> WarningItem:
    """Move an item to status `to`; excluding needs a reason."""
    with transaction.atomic():
        locked = _locked(item.pk)
        _check(by, locked)
        if to not in TRANSITIONS.get(locked.status, ()):
            raise ValidationError(_("An item that is %(current)s cannot become %(target)s.") % {
                "current": locked.get_status_display(), "target": ItemStatus(to).label})
        if to == ItemStatus.EXCLUDED:
            if not reason.strip():
                raise ValidationError(_("Give the reason why the item is not included."))
            locked.exclusion_reason = reason.strip()
        locked.status = to
        _append_note(locked, by, note)
        locked.handled_by, locked.handled_at = by, timezone.now()
        locked._history_user = by
        locked.save()
    return locked


def add_note(*, item: WarningItem, by, note: str) -> WarningItem:
    if not note.strip():
        raise ValidationError(_("The note is empty."))
    with transaction.atomic():
        locked = _locked(item.pk)
        _check(by, locked)
        _append_note(locked, by, note.strip())
        locked._history_user = by
        locked.save()
    return locked


def assign_items(*, item_ids, assignee, by) -> int:
    """Assign many items at once (bulk assignment); every item must lie in the acting user's regions and, when
    there is an assignee, in the assignee's too."""
    if not by.has_perm(HANDLE_PERMISSION):
        raise PermissionDenied(_("You may not handle warning items."))
    if assignee is not None and not assignee.has_perm(HANDLE_PERMISSION):
        raise ValidationError(_("%(user)s may not handle warning items.") % {"user": assignee.get_username()})
    with transaction.atomic():
        items = list(WarningItem.objects.select_for_update().filter(pk__in=list(item_ids)).select_related("region"))
        allowed = set(scope_queryset(WarningItem.objects.filter(pk__in=[i.pk for i in items]), by)
                      .values_list("pk", flat=True))
        if len(allowed) != len(items):
            raise PermissionDenied(_("Some of the items belong to a region outside yours."))
        if assignee is not None:
            reachable = set(scope_queryset(WarningItem.objects.filter(pk__in=allowed), assignee)
                            .values_list("pk", flat=True))
            if reachable != allowed:
                raise ValidationError(_("%(user)s does not work in the region of every item.")
                                      % {"user": assignee.get_username()})
        for item in items:
            item.assignee = assignee
            item._history_user = by
            item.save(update_fields=["assignee"])
    return len(items)
