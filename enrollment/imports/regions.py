"""Region files (统筹区 / 区县): administrative code, name, level, parent code and cost-sharing class.

Parents may come later in the same file than their children. Each region's materialised `path` is computed
here, for the whole tree at once, because bulk writes bypass Region.save(); when a file moves a region to
another parent, the paths of everything under it are rewritten in the same transaction, with history.
"""

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

from ..models import Region
from ..models.imports import ImportKind
from .base import CREATE, SAME, UPDATE, Context, Importer, Row
from .cells import CellError, parse_small_int, text
from .columns import LEVELS, REGION_COLUMNS
from .writer import Writer

_CODE = re.compile(r"^\d{6}$")


def _region_code(value) -> str:
    code = text(value)
    if not _CODE.match(code):
        raise CellError(_("“%(value)s” is not a region code; a region code is six digits.") % {"value": code})
    return code


def _cost_share_class(value) -> int:
    return parse_small_int(value, low=1, high=9)


@dataclass(slots=True)
class RegionDraft:
    row: int
    code: str
    name: str
    level: str
    parent_code: str | None  # None: the file leaves the parent as it is (or none, for a new region)
    cost_share_class: int | None
    path: str = ""
    pk: int | None = None
    action: str = ""


@dataclass(slots=True)
class PathDraft:
    """A region not in the file whose path changes because an ancestor moved."""

    pk: int
    path: str


class RegionsImporter(Importer):
    kind = ImportKind.REGIONS
    columns = REGION_COLUMNS
    models = (Region,)

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.drafts: dict[str, RegionDraft] = {}
        self.moved_subtree: list[PathDraft] = []

    def check_row(self, row: Row) -> None:
        code = row.read("code", _region_code, required=True)
        name = row.text("name", 64, required=True)
        level = row.choice("level", LEVELS, required=True)
        parent_code = row.read("parent_code", _region_code)
        cost_share_class = row.read("cost_share_class", _cost_share_class)
        if code is not None and code in self.drafts:
            row.error("code", _("Region %(code)s is already on row %(row)d.")
                      % {"code": code, "row": self.drafts[code].row})
            return
        if code is not None and parent_code == code:
            row.error("parent_code", _("A region cannot be its own parent."))
        if row.ok:
            self.drafts[code] = RegionDraft(row=row.number, code=code, name=name, level=level,
                                            parent_code=parent_code, cost_share_class=cost_share_class)

    def resolve(self) -> None:
        ctx = self.ctx
        stored = ctx.regions_by_code
        by_id = ctx.regions_by_id
        parent_of: dict[str, str | None] = {
            code: by_id[region.parent_id].code if region.parent_id else None for code, region in stored.items()}
        broken: set[str] = set()
        for draft in self.drafts.values():
            if draft.parent_code is not None:
                if draft.parent_code not in stored and draft.parent_code not in self.drafts:
                    self.reject(draft.row, "parent_code", _("Unknown region code %(code)s.")
                                % {"code": draft.parent_code})
                    broken.add(draft.code)
                parent_of[draft.code] = draft.parent_code
            else:
                parent_of.setdefault(draft.code, None)

        paths: dict[str, str | None] = {}
        looped: set[str] = set()

        def path_of(code: str) -> str | None:
            """The new materialised path; None when the ancestry is broken or loops."""
            chain = []
            seen = set()
            current: str | None = code
            while current is not None and current not in paths:
                if current in seen or current in broken:
                    if current in seen:
                        looped.update(chain[chain.index(current):])
                    for member in chain:
                        paths[member] = None
                    return None
                seen.add(current)
                chain.append(current)
                current = parent_of.get(current)
            prefix = "/" if current is None else paths[current]
            for member in reversed(chain):
                prefix = None if prefix is None else f"{prefix}{member}/"
                paths[member] = prefix
            return paths[code]

        for draft in self.drafts.values():
            new_path = path_of(draft.code)
            if new_path is None:
                if draft.code in looped:
                    self.reject(draft.row, "parent_code", _("Region %(code)s would end up under itself.")
                                % {"code": draft.code})
                elif draft.code not in broken:
                    self.reject(draft.row, "parent_code", _("A region above %(code)s in this file has an error.")
                                % {"code": draft.code})
                continue
            draft.path = new_path
            current = stored.get(draft.code)
            if not ctx.can_reach(Region(code=draft.code, path=new_path)) or (
                    current is not None and not ctx.can_reach(current)):
                self.reject(draft.row, "code", _("Region %(code)s is outside your regions.") % {"code": draft.code})
            if current is None:
                draft.action = CREATE
            else:
                draft.pk = current.pk
                changed = (
                    draft.name != current.name
                    or draft.level != current.level
                    or draft.path != current.path
                    or (draft.cost_share_class is not None and draft.cost_share_class != current.cost_share_class)
                )
                draft.action = UPDATE if changed else SAME
            self.counts["region"].add(draft.action)

        moved = [d for d in self.drafts.values() if d.action == UPDATE and d.path != stored[d.code].path]
        if moved:
            for code, region in stored.items():
                if code not in self.drafts:
                    new_path = path_of(code)
                    if new_path is not None and new_path != region.path:
                        self.moved_subtree.append(PathDraft(pk=region.pk, path=new_path))

    @property
    def objects_to_write(self) -> int:
        return super().objects_to_write + len(self.moved_subtree)

    def write(self, writer: Writer) -> None:
        pk_of = {code: region.pk for code, region in self.ctx.regions_by_code.items()}

        def parent_pk(draft: RegionDraft) -> int | None:
            parent_code = draft.path.strip("/").split("/")[-2] if draft.path.count("/") > 2 else None
            return pk_of[parent_code] if parent_code else None

        def build(draft: RegionDraft) -> dict:
            return {"code": draft.code, "name": draft.name, "level": draft.level, "parent_id": parent_pk(draft),
                    "path": draft.path, "cost_share_class": draft.cost_share_class}

        def apply(region: Region, draft: RegionDraft) -> None:
            region.name = draft.name
            region.level = draft.level
            region.parent_id = parent_pk(draft)
            region.path = draft.path
            if draft.cost_share_class is not None:
                region.cost_share_class = draft.cost_share_class

        def apply_path(region: Region, draft: PathDraft) -> None:
            region.path = draft.path

        # Parents before children: one bulk insert per depth of the tree.
        new = sorted((d for d in self.drafts.values() if d.action == CREATE), key=lambda d: d.path.count("/"))
        depth_groups: dict[int, list[RegionDraft]] = {}
        for draft in new:
            depth_groups.setdefault(draft.path.count("/"), []).append(draft)
        for group in depth_groups.values():
            writer.create(Region, group, build)
            pk_of.update({draft.code: draft.pk for draft in group})
        updates = [d for d in self.drafts.values() if d.action == UPDATE]
        writer.update(Region, updates, apply, ["name", "level", "parent", "path", "cost_share_class"])
        writer.update(Region, self.moved_subtree, apply_path, ["path"])
