"""Recording who was shown full ID numbers (and bank accounts): one row per request and kind of display.

Called wherever the code decides to show a number unmasked, so the log and the display cannot disagree. Only
users holding `enrollment.view_full_id_number` are ever recorded; everybody else sees masks.
"""

from .models import IdNumberAccess
from .models.access import AccessKind

_SEEN_ATTR = "_full_id_accesses_logged"
PATH_LENGTH = IdNumberAccess._meta.get_field("path").max_length


def record_full_id_access(request, kind: str, *, model: str = "", object_id="", rows: int | None = None) -> None:
    """Record that `request.user` saw full numbers; repeated calls for the same display in one request count once
    (a list builds its ID column once per row)."""
    if request is None or not getattr(request, "user", None) or not request.user.is_authenticated:
        return
    key = (kind, model, str(object_id))
    seen = getattr(request, _SEEN_ATTR, None)
    if seen is None:
        seen = set()
        setattr(request, _SEEN_ATTR, seen)
    if key in seen:
        return
    seen.add(key)
    IdNumberAccess.objects.create(user=request.user, kind=kind, model=model, object_id=str(object_id)[:64],
                                  rows=rows, path=request.get_full_path()[:PATH_LENGTH])


def record_export(user, *, model: str, rows: int, path: str = "") -> None:
    """Exports run with a user but not always with a request (a resource is a plain object)."""
    IdNumberAccess.objects.create(user=user, kind=AccessKind.EXPORT, model=model, rows=rows,
                                  path=path[:PATH_LENGTH])
