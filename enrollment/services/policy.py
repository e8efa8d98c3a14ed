"""Loading policy files into the database: regions, yearly statistics and a policy version (政策版本) with its rules.

`load_policy_document` is the one write path for policy files (the `load_policy` command and any upload page
call it). It runs in one transaction: the file is parsed and validated as a whole (`enrollment.policyfile`),
then checked against the database, and only then written — a file with any problem writes nothing.

Versions are identified by the file's `code`. Loading a code that exists is an error unless `replace=True`, which
updates that version in place (same primary key, so ledger rows and claims keep pointing at it) and deletes and
recreates its rules. Before a version is changed, `ensure_policy_editable` runs every registered edit guard:
the claims app registers one that refuses versions which already settled claims (see docs/policy-files.md).
Admin pages that edit a version or its rules should call `ensure_policy_editable` too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from ..models import CostShareRule, IdentityCategory, PolicyVersion, Region, RegionYear, SubsidyRule
from ..policyfile import PolicyDocument, PolicyFileError, PolicyIssue, join, parse_policy_document

__all__ = [
    "PolicyNotEditable",
    "ensure_policy_editable",
    "load_policy_document",
    "register_edit_guard",
    "register_section_writer",
]

# simple_history's change-reason column holds 100 characters.
_REASON_LENGTH = 100


# ------------------------------------------------------------------------------------------------ edit guards

class PolicyNotEditable(ValidationError):
    """Raised by an edit guard: this version may no longer be changed (e.g. claims were settled under it)."""


EditGuard = Callable[[PolicyVersion], None]
_EDIT_GUARDS: list[EditGuard] = []


def register_edit_guard(guard: EditGuard) -> None:
    """Add a check run before any change to an existing policy version; it raises ValidationError to refuse.

    Apps above enrollment register theirs from ``AppConfig.ready`` (enrollment may not import them), e.g. claims:
    ``register_edit_guard(refuse_versions_with_settled_claims)``. Registering the same function twice is a no-op.
    """
    if guard not in _EDIT_GUARDS:
        _EDIT_GUARDS.append(guard)


def unregister_edit_guard(guard: EditGuard) -> None:
    if guard in _EDIT_GUARDS:
        _EDIT_GUARDS.remove(guard)


def ensure_policy_editable(policy: PolicyVersion) -> None:
    """Raise PolicyNotEditable when `policy` may not be changed; the hook every write to a version goes through.

    Enrollment itself puts no limit here: a subsidy already granted is stored on its ledger row and is not
    recomputed when the version changes (no top-up, SPEC §3.3). Settled claims are different — their payment
    lines must stay explainable by the rules they were computed with — so the claims app registers a guard.
    """
    for guard in list(_EDIT_GUARDS):
        try:
            guard(policy)
        except PolicyNotEditable:
            raise
        except ValidationError as exc:
            # Guards may raise a plain ValidationError (e.g. claims' ensure_policy_unsettled); callers catch one type.
            raise PolicyNotEditable(exc.error_list) from exc


# ----------------------------------------------------------------------------------------- section writers

@dataclass
class WriteContext:
    """Who loads, and the change reason recorded in every history row the load writes."""

    by: Any
    reason: str

    def stamp(self, instance):
        instance._history_user = self.by
        instance._change_reason = self.reason
        return instance


@dataclass(frozen=True)
class SectionWriter:
    """Writes one version-scoped section.

    ``prepare(policy, section, ctx)`` sets fields on the version before it is saved (no queries);
    ``clear(policy, ctx)`` deletes the section's rows of an existing version (on replace, also when the new file
    leaves the section out); ``write(policy, section, ctx)`` creates its rows. ``section`` is the parsed value,
    or the section's default when the file leaves it out.
    """

    prepare: Callable[[PolicyVersion, Any, WriteContext], None]
    clear: Callable[[PolicyVersion, WriteContext], None]
    write: Callable[[PolicyVersion, Any, WriteContext], None]


# Sections that describe regions rather than a version; the loader writes them itself, before the version.
_REGION_SECTIONS = ("regions", "statistics")
_SECTION_WRITERS: dict[str, SectionWriter] = {}


def register_section_writer(name: str, *, prepare=None, clear, write) -> None:
    """Register how a version-scoped section is written (pair of `policyfile.register_section`)."""
    _SECTION_WRITERS[name] = SectionWriter(prepare or (lambda policy, section, ctx: None), clear, write)


def _delete_with_history(queryset, ctx: WriteContext) -> None:
    # One delete per row so each history row names who deleted it and why (a version has a few dozen rules).
    for row in queryset:
        ctx.stamp(row).delete()


def _prepare_enrollment(policy: PolicyVersion, section, ctx: WriteContext) -> None:
    policy.intake_cutoff_month = section.intake.cutoff_month
    policy.intake_cutoff_day = section.intake.cutoff_day
    policy.newborn_window_months = section.intake.newborn_window_months
    policy.full_subsidy_base = section.full_subsidy_base
    policy.top_up_on_identity_change = section.top_up_on_identity_change


def _clear_enrollment(policy: PolicyVersion, ctx: WriteContext) -> None:
    _delete_with_history(policy.subsidy_rules.all(), ctx)
    _delete_with_history(policy.cost_share_rules.all(), ctx)


def _write_enrollment(policy: PolicyVersion, section, ctx: WriteContext) -> None:
    categories = {c.code: c for c in IdentityCategory.objects.all()}
    policy.green_channel_categories.set([categories[code] for code in section.intake.green_channel])
    bulk_create_with_history(
        [SubsidyRule(policy=policy, category=categories[rule.category], plan_year=rule.plan_year, kind=rule.kind,
                     value=rule.value, funding_source=rule.funding_source, cost_shared=rule.cost_shared,
                     note=rule.note)
         for rule in section.subsidies],
        SubsidyRule, default_user=ctx.by, default_change_reason=ctx.reason)
    bulk_create_with_history(
        [CostShareRule(policy=policy, county_class=rule.county_class, province_share=rule.province_share,
                       prefecture_share=rule.prefecture_share, county_share=rule.county_share)
         for rule in section.cost_sharing],
        CostShareRule, default_user=ctx.by, default_change_reason=ctx.reason)


register_section_writer("enrollment", prepare=_prepare_enrollment, clear=_clear_enrollment,
                        write=_write_enrollment)


# ------------------------------------------------------------------------------------------------------ loader

def load_policy_document(*, document: str | bytes, source_name: str, by=None, replace: bool = False) -> PolicyVersion:
    """Load one policy file (YAML or JSON text) and return its policy version.

    Creates the regions the file declares when missing, upserts its statistics, then creates the version — or,
    with ``replace=True`` and a version of the same code, updates it in place and recreates its rules.
    Raises PolicyFileError (every problem with line and field) and writes nothing when anything is wrong.
    """
    parsed = parse_policy_document(
        document, source_name=source_name,
        known_categories=set(IdentityCategory.objects.values_list("code", flat=True)))
    missing = [name for name in parsed.sections if name not in _REGION_SECTIONS and name not in _SECTION_WRITERS]
    if missing:
        raise ImproperlyConfigured(f"policy file sections without a writer: {', '.join(missing)}")
    ctx = WriteContext(by=by, reason=(_("policy file %(name)s") % {"name": source_name})[:_REASON_LENGTH])

    with transaction.atomic():
        existing = (PolicyVersion.objects.select_for_update().select_related("region")
                    .filter(code=parsed.code).first())
        issues = _check_against_database(parsed, existing, replace)
        if issues:
            raise PolicyFileError(source_name, issues)
        try:
            if existing is not None:
                ensure_policy_editable(existing)
            regions = _write_regions(parsed, ctx)
            _write_statistics(parsed, regions, ctx)
            return _write_version(parsed, existing, regions[parsed.region.code], ctx)
        except PolicyFileError:
            raise
        except ValidationError as exc:
            # From an edit guard, or from a model signal refusing a write (e.g. claims' policy lock): the
            # transaction rolls back and the refusal is reported like any other problem of the file.
            raise PolicyFileError(source_name, [parsed.issue("code", message) for message in exc.messages]) from exc


def _check_against_database(parsed: PolicyDocument, existing: PolicyVersion | None,
                            replace: bool) -> list[PolicyIssue]:
    issues: list[PolicyIssue] = []
    if existing is not None and not replace:
        issues.append(parsed.issue("code", _(
            "policy version %(code)s already exists; load with --replace to update it in place")
            % {"code": parsed.code}))
    if existing is not None and existing.region.code != parsed.region.code:
        issues.append(parsed.issue("region.code", _(
            "policy version %(code)s belongs to region %(region)s; a version cannot move to another region")
            % {"code": parsed.code, "region": existing.region}))

    others = PolicyVersion.objects.filter(region__code=parsed.region.code)
    if existing is not None:
        others = others.exclude(pk=existing.pk)
    if parsed.effective_to is not None:
        others = others.filter(effective_from__lte=parsed.effective_to)
    others = others.filter(Q(effective_to__isnull=True) | Q(effective_to__gte=parsed.effective_from))
    for other in others.order_by("effective_from"):
        issues.append(parsed.issue("effective_from", _(
            "the period overlaps policy version %(code)s (%(start)s – %(end)s) of the same region")
            % {"code": other.code, "start": other.effective_from.isoformat(),
               "end": other.effective_to.isoformat() if other.effective_to else "…"}))

    declared = parsed.all_regions()
    in_db = {r.code: r for r in Region.objects.filter(code__in=[s.code for s in declared]).select_related("parent")}
    for spec in declared:
        region = in_db.get(spec.code)
        if region is None:
            continue
        db_parent = region.parent.code if region.parent_id else None
        if db_parent != spec.parent_code:
            path = join(spec.path, "parent") if spec.path.startswith("regions[") else join(spec.path, "code")
            issues.append(PolicyIssue(parsed.line_of(path) or spec.line, path, _(
                "region %(code)s is under %(db_parent)s in the database, but this file puts it under %(parent)s; "
                "correct the file or move the region in the admin first")
                % {"code": spec.code, "db_parent": db_parent or _("nothing (top level)"),
                   "parent": spec.parent_code or _("nothing (top level)")}))
    return issues


def _write_regions(parsed: PolicyDocument, ctx: WriteContext) -> dict[str, Region]:
    """Create the declared regions that are missing; bring name, level and class of the others in line."""
    regions: dict[str, Region] = {}
    existing = {r.code: r for r in Region.objects.filter(code__in=[s.code for s in parsed.all_regions()])}
    for spec in parsed.all_regions():
        region = existing.get(spec.code)
        parent = regions[spec.parent_code] if spec.parent_code else None
        if region is None:
            region = Region(code=spec.code, name=spec.name, level=spec.level, parent=parent,
                            cost_share_class=spec.cost_share_class)
            ctx.stamp(region).save()
        else:
            wanted = {"name": spec.name, "level": spec.level}
            if spec.cost_share_class is not None:
                wanted["cost_share_class"] = spec.cost_share_class
            if any(getattr(region, name) != value for name, value in wanted.items()):
                for name, value in wanted.items():
                    setattr(region, name, value)
                ctx.stamp(region).save()
        regions[spec.code] = region
    return regions


def _write_statistics(parsed: PolicyDocument, regions: dict[str, Region], ctx: WriteContext) -> None:
    """Upsert RegionYear rows; only the figures the file gives are set, the others are left as they are."""
    if not parsed.statistics:
        return
    wanted_regions = {regions[spec.region_code].pk for spec in parsed.statistics}
    existing = {(row.region_id, row.year): row
                for row in RegionYear.objects.filter(region_id__in=wanted_regions,
                                                     year__in={spec.year for spec in parsed.statistics})}
    for spec in parsed.statistics:
        region = regions[spec.region_code]
        row = existing.get((region.pk, spec.year))
        if row is None:
            row = RegionYear(region=region, year=spec.year, **spec.values)
            ctx.stamp(row).save()
        elif any(getattr(row, name) != value for name, value in spec.values.items()):
            for name, value in spec.values.items():
                setattr(row, name, value)
            ctx.stamp(row).save()


def _write_version(parsed: PolicyDocument, existing: PolicyVersion | None, region: Region,
                   ctx: WriteContext) -> PolicyVersion:
    policy = existing or PolicyVersion(code=parsed.code)
    policy.region = region
    policy.name = parsed.name
    policy.document = parsed.document
    policy.effective_from = parsed.effective_from
    policy.effective_to = parsed.effective_to
    policy.notes = parsed.notes
    policy.source_file = parsed.source_name[:200]
    for name, writer in _SECTION_WRITERS.items():
        writer.prepare(policy, parsed.sections.get(name), ctx)
    ctx.stamp(policy).save()
    for name, writer in _SECTION_WRITERS.items():
        if existing is not None:
            writer.clear(policy, ctx)
        writer.write(policy, parsed.sections.get(name), ctx)
    return policy
