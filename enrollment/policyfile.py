"""Policy files (政策文件): policy versions written as documented YAML or JSON, parsed and validated here.

The format is described field by field in ``docs/policy-files.md``. This module reads a document into plain frozen
dataclasses (:class:`PolicyDocument`) and never touches the database: the one fact it needs from there, the known
identity-category codes, is passed in. Writing to the database is ``enrollment.services.policy``.

Every problem is reported with the line it sits on and the field's path, e.g.
``chongqing-2022.yaml line 23 enrollment.subsidies[3].value: needs a number between 0 and 100``. List positions in
paths count from 1, as staff count rows. All problems of a document are collected before it is rejected, so one
round of corrections fixes them all.

How line numbers are kept: the text is *composed* (``yaml.compose``) into a node tree instead of loaded, so every
node still carries its ``start_mark``; values are then converted node by node. Reading numbers from the node's own
text also keeps them exact (``Decimal("0.1")``, never the float 0.1). JSON is YAML, so ``.json`` files go through
the same path (tabs, which YAML forbids as indentation but JSON allows, are turned into spaces first).

Sections: a document is a header (code, name, period, region) plus top-level sections. Each section has a parser
in :data:`SECTION_PARSERS`; a top-level key that is neither a header field nor a registered section is rejected,
so a typo such as ``enrolment:`` is caught instead of silently ignored. Another app adds a section by calling
:func:`register_section` from its ``AppConfig.ready`` (see docs/policy-files.md, "Adding a section").
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .controlchars import find_control_character
from .models.choices import FundingSource
from .models.policy import FullSubsidyBase, SubsidyKind
from .models.regions import RegionLevel
from .percent import percent_problem

__all__ = [
    "FORMAT_VERSION",
    "HEADER_FIELDS",
    "SECTION_PARSERS",
    "CostShareSpec",
    "EnrollmentSection",
    "IntakeSpec",
    "NodeReader",
    "ParseContext",
    "PolicyDocument",
    "PolicyFileError",
    "PolicyIssue",
    "RegionSpec",
    "RegionYearSpec",
    "SubsidySpec",
    "parse_policy_document",
    "register_section",
]

FORMAT_VERSION = 1
HEADER_FIELDS = ("format", "code", "name", "document", "effective_from", "effective_to", "notes", "region")

_CODE_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
_REGION_CODE_RE = re.compile(r"^\d{6}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH_DAY_RE = re.compile(r"^(\d{2})-(\d{2})$")
_INTEGER_RE = re.compile(r"^[-+]?\d+$")
_FEN = Decimal("0.01")
# DecimalField(max_digits=14, decimal_places=2) and DecimalField(max_digits=6, decimal_places=2).
MAX_AMOUNT = Decimal("999999999999.99")
MAX_SHARE = Decimal("9999.99")
_LEVEL_RANK = {RegionLevel.PROVINCE.value: 0, RegionLevel.PREFECTURE.value: 1, RegionLevel.COUNTY.value: 2}
_STAT_FIELDS = ("income_urban", "income_rural", "income_all", "contribution_tier1", "contribution_tier2")


# --------------------------------------------------------------------------------------------------- problems

@dataclass(frozen=True)
class PolicyIssue:
    """One problem in a policy file: where (line, field path) and what."""

    line: int | None
    path: str
    message: str

    def format(self, source_name: str) -> str:
        params = {"source": source_name, "line": self.line, "path": self.path, "message": self.message}
        if self.line is not None and self.path:
            return _("%(source)s line %(line)s %(path)s: %(message)s") % params
        if self.line is not None:
            return _("%(source)s line %(line)s: %(message)s") % params
        if self.path:
            return _("%(source)s %(path)s: %(message)s") % params
        return _("%(source)s: %(message)s") % params


class PolicyFileError(ValidationError):
    """A policy file that cannot be loaded; ``messages`` holds one formatted line per problem.

    A ValidationError so forms (an admin upload page) can show it as they show any other validation error.
    """

    def __init__(self, source_name: str, issues: Iterable[PolicyIssue]):
        self.source_name = source_name
        self.issues = list(issues)
        super().__init__([issue.format(source_name) for issue in self.issues])

    def __str__(self):
        return "\n".join(self.messages)


# ------------------------------------------------------------------------------------------ parsed document

@dataclass(frozen=True)
class RegionSpec:
    """A region the file declares; loading creates it when missing (and updates name, level, class)."""

    code: str
    name: str
    level: str
    parent_code: str | None
    cost_share_class: int | None = None
    path: str = ""
    line: int | None = None


@dataclass(frozen=True)
class RegionYearSpec:
    """Yearly statistics of a region; ``values`` holds only the figures the file gives (field name → value)."""

    region_code: str
    year: int
    values: Mapping[str, Any]
    path: str = ""
    line: int | None = None


@dataclass(frozen=True)
class SubsidySpec:
    """One contribution-subsidy rule (资助参保) row."""

    category: str
    kind: str
    value: Decimal | None = None
    plan_year: int | None = None
    funding_source: str = FundingSource.MEDICAL_ASSISTANCE.value
    cost_shared: bool = False
    note: str = ""
    path: str = ""
    line: int | None = None


@dataclass(frozen=True)
class CostShareSpec:
    """How a cost-shared subsidy splits for counties of one class (province : prefecture : county)."""

    county_class: int
    province_share: Decimal
    prefecture_share: Decimal
    county_share: Decimal
    path: str = ""
    line: int | None = None


@dataclass(frozen=True)
class IntakeSpec:
    """Intake (参保) rules: the August-31 cut-off, the mid-year green channel, the newborn window."""

    cutoff_month: int = 8
    cutoff_day: int = 31
    green_channel: tuple[str, ...] = ()
    newborn_window_months: int = 0


@dataclass(frozen=True)
class EnrollmentSection:
    """The ``enrollment:`` section. Absent from a file, it means: model defaults, no rules."""

    intake: IntakeSpec = field(default_factory=IntakeSpec)
    full_subsidy_base: str = FullSubsidyBase.OWN_CONTRIBUTION.value
    top_up_on_identity_change: bool = False
    subsidies: tuple[SubsidySpec, ...] = ()
    cost_sharing: tuple[CostShareSpec, ...] = ()


@dataclass(frozen=True)
class PolicyDocument:
    """A validated policy file. ``sections`` maps every registered section name to its parsed value."""

    source_name: str
    code: str
    name: str
    effective_from: dt.date
    effective_to: dt.date | None
    region: RegionSpec
    parents: tuple[RegionSpec, ...] = ()
    document: str = ""
    notes: str = ""
    format: int = FORMAT_VERSION
    sections: Mapping[str, Any] = field(default_factory=dict)
    lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def regions(self) -> tuple[RegionSpec, ...]:
        return self.sections.get("regions", ())

    @property
    def statistics(self) -> tuple[RegionYearSpec, ...]:
        return self.sections.get("statistics", ())

    @property
    def enrollment(self) -> EnrollmentSection:
        return self.sections.get("enrollment") or EnrollmentSection()

    def all_regions(self) -> list[RegionSpec]:
        """Every region the file declares, parents before children."""
        return [*self.parents, self.region, *self.regions]

    def line_of(self, path: str) -> int | None:
        return self.lines.get(path)

    def issue(self, path: str, message: str) -> PolicyIssue:
        """A problem found later (e.g. against the database), located like the parser's own."""
        return PolicyIssue(self.line_of(path), path, message)


# ----------------------------------------------------------------------------------------------- node reader

def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def item(path: str, index: int) -> str:
    """Path of the index-th (0-based) list element, shown counting from 1."""
    return f"{path}[{index + 1}]"


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return _("; did you mean %(choice)r?") % {"choice": close[0]} if close else ""


_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class NodeReader:
    """Converts composed YAML nodes into values, recording each problem with its line and path.

    Readers return None for an invalid value (after recording the problem); parsing carries on so that every
    problem of the file is reported at once. ``lines`` remembers the line of every path read.
    Section parsers registered by other apps use the same reader, so their messages look the same.
    """

    def __init__(self):
        self.issues: list[PolicyIssue] = []
        self.lines: dict[str, int] = {}

    # -- bookkeeping
    @staticmethod
    def line(node) -> int | None:
        return node.start_mark.line + 1 if node is not None and node.start_mark is not None else None

    def problem(self, node, path: str, message: str) -> None:
        self.issues.append(PolicyIssue(self.line(node), path, message))

    def problem_at(self, path: str, message: str, fallback_node=None) -> None:
        """A problem with a field already read, located at that field's line."""
        self.issues.append(PolicyIssue(self.lines.get(path, self.line(fallback_node)), path, message))

    def remember(self, node, path: str) -> None:
        line = self.line(node)
        if line is not None:
            self.lines.setdefault(path, line)

    # -- containers
    def mapping(self, node, path: str, *, required: Collection[str] = (), optional: Collection[str] = (),
                unknown_message: str | None = None, order: Collection[str] = ()) -> dict[str, Any] | None:
        """The mapping's non-null values by key, after checking for unknown, repeated and missing keys.

        ``order`` only sets the order in which allowed fields are listed in a message.
        """
        self.remember(node, path)
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, path, _("needs a mapping of fields (key: value)"))
            return None
        if not self._merge(node, path):
            return None
        allowed = [name for name in dict.fromkeys([*order, *required, *optional])
                   if name in required or name in optional]
        values: dict[str, Any] = {}
        seen: dict[str, Any] = {}  # key → its node, to point at an empty required field
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, path, _("a field name must be plain text"))
                continue
            key = key_node.value
            key_path = join(path, key)
            if key not in allowed:
                message = unknown_message or _("unknown field %(key)r; allowed here: %(allowed)s")
                self.problem(key_node, key_path, message % {"key": key, "allowed": ", ".join(allowed)}
                             + _suggest(key, allowed))
                continue
            if key in seen:
                self.problem(key_node, key_path, _("this field is given twice"))
                continue
            seen[key] = key_node
            self.remember(value_node, key_path)
            if self.is_null(value_node):
                continue
            values[key] = value_node
        for key in required:
            if key in values:
                continue
            if key in seen:
                self.problem(seen[key], join(path, key), _("is required and cannot be empty"))
            else:
                self.problem(node, join(path, key), _("is required"))
        return values

    def _merge(self, node, path: str) -> bool:
        """Resolve ``<<: *anchor`` merge keys in place; the mapping's own fields override merged ones."""
        own = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        if len(own) == len(node.value):
            return True
        try:
            _CONSTRUCTOR.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            self.problem(node, path, exc.problem or str(exc))
            return False
        own_keys = {k.value for k, _v in own if isinstance(k, yaml.ScalarNode)}
        merged: dict[str, tuple] = {}
        for key_node, value_node in node.value[: len(node.value) - len(own)]:
            if key_node.value not in own_keys:
                merged[key_node.value] = (key_node, value_node)  # as in PyYAML, a later source wins
        node.value = [*merged.values(), *own]
        return True

    def sequence(self, node, path: str) -> list | None:
        self.remember(node, path)
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, path, _("needs a list (one '- ' entry per item)"))
            return None
        for index, element in enumerate(node.value):
            self.remember(element, item(path, index))
        return list(node.value)

    # -- scalars
    @staticmethod
    def is_null(node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG

    def scalar(self, node, path: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, path, _("needs a single value, not a list or mapping"))
            return None
        return node.value

    def text(self, node, path: str, *, max_length: int | None = None, required: bool = False) -> str | None:
        value = self.scalar(node, path)
        if value is None:
            return None
        value = value.strip()
        if required and not value:
            self.problem(node, path, _("is required and cannot be empty"))
            return None
        if max_length is not None and len(value) > max_length:
            self.problem(node, path, _("is too long (at most %(max)d characters)") % {"max": max_length})
            return None
        return value

    def integer(self, node, path: str, *, minimum: int, maximum: int) -> int | None:
        if self.scalar(node, path) is None:
            return None
        if node.tag == _INT_TAG:
            value = _CONSTRUCTOR.construct_yaml_int(node)
        elif node.tag != _BOOL_TAG and _INTEGER_RE.match(node.value.strip()):
            value = int(node.value.strip())
        else:
            self.problem(node, path, _("needs a whole number"))
            return None
        if not minimum <= value <= maximum:
            self.problem(node, path, _("needs a whole number between %(min)d and %(max)d")
                         % {"min": minimum, "max": maximum})
            return None
        return value

    def decimal(self, node, path: str, *, minimum: Decimal, maximum: Decimal) -> Decimal | None:
        """An exact number from the node's own text, at most two decimal places (fen)."""
        if self.scalar(node, path) is None:
            return None
        value = None
        if node.tag != _BOOL_TAG:
            try:
                value = Decimal(node.value.strip().replace("_", ""))
            except InvalidOperation:
                value = None
        if value is None or not value.is_finite():
            self.problem(node, path, _("needs a number"))
            return None
        if not minimum <= value <= maximum:
            self.problem(node, path, _("needs a number between %(min)s and %(max)s")
                         % {"min": _plain(minimum), "max": _plain(maximum)})
            return None
        if value != value.quantize(_FEN):
            self.problem(node, path, _("has more than two decimal places"))
            return None
        return value

    def percent(self, node, path: str) -> Decimal | None:
        """A ratio in percent (``75`` is 75 %), 0 to 100; a value between 0 and 1 is refused as ambiguous."""
        value = self.decimal(node, path, minimum=Decimal(0), maximum=Decimal(100))
        if value is None:
            return None
        problem = percent_problem(value)
        if problem:
            self.problem(node, path, problem)
            return None
        return value

    def above(self, low_path: str, low: Decimal | None, high_path: str, high: Decimal | None, node=None) -> bool:
        """Plausibility of two amounts already read: `high` (a cap) must be above `low` (a deductible)."""
        if low is None or high is None or high > low:
            return True
        self.problem_at(high_path, _("must be above %(low_path)s (%(low)s), or nothing would ever be paid")
                        % {"low_path": low_path, "low": _plain(low)}, node)
        return False

    def boolean(self, node, path: str) -> bool | None:
        if self.scalar(node, path) is None:
            return None
        if node.tag != _BOOL_TAG:
            self.problem(node, path, _("needs true or false"))
            return None
        return _CONSTRUCTOR.construct_yaml_bool(node)

    def date(self, node, path: str) -> dt.date | None:
        value = self.scalar(node, path)
        if value is None:
            return None
        value = value.strip()
        if not _DATE_RE.match(value):
            self.problem(node, path, _("needs a date written YYYY-MM-DD"))
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.problem(node, path, _("%(value)s is not a calendar date") % {"value": value})
            return None

    def month_day(self, node, path: str) -> tuple[int, int] | None:
        value = self.scalar(node, path)
        if value is None:
            return None
        match = _MONTH_DAY_RE.match(value.strip())
        try:
            # 2000 is a leap year, so 02-29 is a possible (if odd) cut-off.
            day = dt.date(2000, int(match.group(1)), int(match.group(2))) if match else None
        except ValueError:
            day = None
        if day is None:
            self.problem(node, path, _("needs a month and day written MM-DD, e.g. 08-31"))
            return None
        return day.month, day.day

    def choice(self, node, path: str, choices: Collection[str] | Mapping[str, Any]) -> str | None:
        """One of ``choices``; given a mapping (code → label, e.g. a TextChoices' choices), messages show labels."""
        value = self.scalar(node, path)
        if value is None:
            return None
        value = value.strip()
        if value not in choices:
            listing = (", ".join(f"{code} ({label})" for code, label in choices.items())
                       if isinstance(choices, Mapping) else ", ".join(choices))
            self.problem(node, path, _("%(value)r is not one of: %(choices)s")
                         % {"value": value, "choices": listing} + _suggest(value, choices))
            return None
        return value

    def region_code(self, node, path: str) -> str | None:
        # The node's text, not its value: an unquoted 500000 is an int to YAML but a code to us.
        value = self.scalar(node, path)
        if value is None:
            return None
        value = value.strip()
        if not _REGION_CODE_RE.match(value):
            self.problem(node, path, _("a region code is six digits"))
            return None
        return value

    def category(self, node, path: str, known: Collection[str] | None) -> str | None:
        value = self.text(node, path, required=True)
        if value is None:
            return None
        if known is not None and value not in known:
            self.problem(node, path, _("unknown identity category %(code)r") % {"code": value}
                         + _suggest(value, known))
            return None
        return value


def _plain(value: Decimal) -> str:
    return f"{value:f}"


# ---------------------------------------------------------------------------------------------- sections

@dataclass
class ParseContext:
    """What section parsers may need from the header and from sections parsed before them."""

    region_code: str | None
    effective_from: dt.date | None
    effective_to: dt.date | None
    known_categories: Collection[str] | None
    # code → level of every region declared so far (header region, its parents, the `regions:` section)
    declared_regions: dict[str, str] = field(default_factory=dict)


SectionParser = Callable[[NodeReader, Any, str, ParseContext], Any]


@dataclass(frozen=True)
class _Section:
    parse: SectionParser
    default: Callable[[], Any]


# Parsed in this order; later sections may rely on what earlier ones put into the ParseContext.
SECTION_PARSERS: dict[str, _Section] = {}


def register_section(name: str, parse: SectionParser, *, default: Callable[[], Any] = lambda: None) -> None:
    """Add a top-level section to the format (call from an AppConfig.ready; see docs/policy-files.md).

    ``parse(reader, node, path, context)`` returns the section's value (None when invalid, after recording the
    problems on ``reader``); ``default()`` gives the value of a file that leaves the section out.
    """
    if name in HEADER_FIELDS:
        raise ValueError(f"{name!r} is a header field, not a section")
    SECTION_PARSERS[name] = _Section(parse, default)


def _region_fields(reader: NodeReader, fields: dict, node, path: str, *, default_level: str | None = None) -> dict:
    """code, name and level of a region mapping already read by ``reader.mapping``; None marks a bad value."""
    level = default_level
    if "level" in fields:
        level = reader.choice(fields["level"], join(path, "level"), RegionLevel.values)
    return {
        "code": reader.region_code(fields["code"], join(path, "code")) if "code" in fields else None,
        "name": reader.text(fields["name"], join(path, "name"), max_length=64, required=True)
        if "name" in fields else None,
        "level": level,
        "path": path,
        "line": reader.line(node),
    }


def _complete(entry: dict) -> bool:
    return None not in (entry["code"], entry["name"], entry["level"])


def _parse_header_region(reader: NodeReader, node, path: str) -> tuple[RegionSpec | None, tuple[RegionSpec, ...]]:
    """The version's region and its parent chain, listed from the top (province) down."""
    fields = reader.mapping(node, path, required=("code", "name", "level"), optional=("parents",))
    if fields is None:
        return None, ()
    chain: list[dict] = []
    if "parents" in fields:
        list_path = join(path, "parents")
        for index, parent_node in enumerate(reader.sequence(fields["parents"], list_path) or []):
            parent_path = item(list_path, index)
            parent_fields = reader.mapping(parent_node, parent_path, required=("code", "name", "level"))
            if parent_fields is not None:
                chain.append(_region_fields(reader, parent_fields, parent_node, parent_path))
    chain.append(_region_fields(reader, fields, node, path))
    if not all(_complete(entry) for entry in chain):
        return None, ()
    specs: list[RegionSpec] = []
    for position, entry in enumerate(chain):
        parent = chain[position - 1] if position else None
        if parent and _LEVEL_RANK[parent["level"]] >= _LEVEL_RANK[entry["level"]]:
            reader.issues.append(PolicyIssue(entry["line"], join(entry["path"], "level"), _(
                "a %(level)s cannot sit under a %(parent_level)s; list parents from the province down")
                % {"level": entry["level"], "parent_level": parent["level"]}))
        specs.append(RegionSpec(
            code=entry["code"], name=entry["name"], level=entry["level"],
            parent_code=parent["code"] if parent else None, path=entry["path"], line=entry["line"]))
    return specs[-1], tuple(specs[:-1])


def _parse_regions(reader: NodeReader, node, path: str, context: ParseContext) -> tuple[RegionSpec, ...]:
    """Regions under the version's region (counties, with their cost-sharing class)."""
    specs: list[RegionSpec] = []
    possible_parents = {context.region_code: context.declared_regions.get(context.region_code)}
    for index, entry_node in enumerate(reader.sequence(node, path) or []):
        entry_path = item(path, index)
        fields = reader.mapping(entry_node, entry_path, required=("code", "name"),
                                optional=("level", "parent", "cost_share_class"))
        if fields is None:
            continue
        entry = _region_fields(reader, fields, entry_node, entry_path, default_level=RegionLevel.COUNTY.value)
        parent = context.region_code
        if "parent" in fields:
            parent = reader.region_code(fields["parent"], join(entry_path, "parent"))
            if parent is not None and parent not in possible_parents:
                reader.problem(fields["parent"], join(entry_path, "parent"), _(
                    "the parent must be this version's region or a region listed earlier in this section"))
                parent = None
        cost_share_class = None
        if "cost_share_class" in fields:
            cost_share_class = reader.integer(fields["cost_share_class"], join(entry_path, "cost_share_class"),
                                              minimum=1, maximum=99)
            if cost_share_class is None:
                continue
        if not _complete(entry) or parent is None:
            continue
        if entry["code"] in context.declared_regions:
            reader.problem(fields["code"], join(entry_path, "code"), _("region %(code)s is declared twice")
                           % {"code": entry["code"]})
            continue
        parent_level = possible_parents[parent]
        if parent_level is not None and _LEVEL_RANK[parent_level] >= _LEVEL_RANK[entry["level"]]:
            reader.problem(entry_node, join(entry_path, "level"), _(
                "a %(level)s cannot sit under a %(parent_level)s") % {"level": entry["level"],
                                                                      "parent_level": parent_level})
            continue
        context.declared_regions[entry["code"]] = entry["level"]
        possible_parents[entry["code"]] = entry["level"]
        specs.append(RegionSpec(
            code=entry["code"], name=entry["name"], level=entry["level"], parent_code=parent,
            cost_share_class=cost_share_class, path=entry_path, line=entry["line"]))
    return tuple(specs)


def _parse_statistics(reader: NodeReader, node, path: str, context: ParseContext) -> tuple[RegionYearSpec, ...]:
    nodes = reader.sequence(node, path) or []
    specs = []
    seen: set[tuple[str, int]] = set()
    for index, entry_node in enumerate(nodes):
        entry_path = item(path, index)
        fields = reader.mapping(entry_node, entry_path, required=("year",),
                                optional=("region", *_STAT_FIELDS, "source"))
        if fields is None:
            continue
        year = reader.integer(fields["year"], join(entry_path, "year"), minimum=1949, maximum=2200) \
            if "year" in fields else None
        region = context.region_code
        if "region" in fields:
            region = reader.region_code(fields["region"], join(entry_path, "region"))
            if region is not None and region not in context.declared_regions:
                reader.problem(fields["region"], join(entry_path, "region"), _(
                    "region %(code)s is not declared in this file (header region, its parents or `regions:`)")
                    % {"code": region})
                region = None
        values: dict[str, Any] = {}
        for name in _STAT_FIELDS:
            if name in fields:
                values[name] = reader.decimal(fields[name], join(entry_path, name),
                                              minimum=Decimal(0), maximum=MAX_AMOUNT)
        if "source" in fields:
            values["source"] = reader.text(fields["source"], join(entry_path, "source"), max_length=200)
        if not any(name in values for name in _STAT_FIELDS):
            reader.problem(entry_node, entry_path, _("gives no figure (income or contribution)"))
            continue
        if year is None or region is None or any(v is None for v in values.values()):
            continue
        if (region, year) in seen:
            reader.problem(fields["year"], join(entry_path, "year"), _(
                "statistics for region %(code)s and year %(year)s are given twice") % {"code": region, "year": year})
            continue
        seen.add((region, year))
        specs.append(RegionYearSpec(region_code=region, year=year, values=values, path=entry_path,
                                    line=reader.line(entry_node)))
    return tuple(specs)


def _parse_intake(reader: NodeReader, node, path: str, context: ParseContext) -> IntakeSpec | None:
    fields = reader.mapping(node, path, optional=("cutoff", "green_channel", "newborn_window_months"))
    if fields is None:
        return None
    defaults = IntakeSpec()
    cutoff = (defaults.cutoff_month, defaults.cutoff_day)
    if "cutoff" in fields:
        cutoff = reader.month_day(fields["cutoff"], join(path, "cutoff"))
    green: list[str] = []
    if "green_channel" in fields:
        list_path = join(path, "green_channel")
        for index, code_node in enumerate(reader.sequence(fields["green_channel"], list_path) or []):
            code = reader.category(code_node, item(list_path, index), context.known_categories)
            if code is None:
                continue
            if code in green:
                reader.problem(code_node, item(list_path, index), _("category %(code)r is listed twice")
                               % {"code": code})
                continue
            green.append(code)
    newborn = defaults.newborn_window_months
    if "newborn_window_months" in fields:
        newborn = reader.integer(fields["newborn_window_months"], join(path, "newborn_window_months"),
                                 minimum=0, maximum=24)
    if cutoff is None or newborn is None:
        return None
    return IntakeSpec(cutoff_month=cutoff[0], cutoff_day=cutoff[1], green_channel=tuple(green),
                      newborn_window_months=newborn)


def _parse_subsidy(reader: NodeReader, node, path: str, context: ParseContext) -> SubsidySpec | None:
    fields = reader.mapping(node, path, required=("category", "kind"),
                            optional=("value", "plan_year", "funding_source", "cost_shared", "note"))
    if fields is None:
        return None
    category = reader.category(fields["category"], join(path, "category"), context.known_categories) \
        if "category" in fields else None
    kind = reader.choice(fields["kind"], join(path, "kind"), SubsidyKind.values) if "kind" in fields else None
    value = None
    ok = True
    if kind in (SubsidyKind.PERCENT, SubsidyKind.FIXED):
        if "value" not in fields:
            reader.problem(node, join(path, "value"), _("a %(kind)s subsidy needs a value") % {"kind": kind})
            ok = False
        elif kind == SubsidyKind.PERCENT:
            value = reader.percent(fields["value"], join(path, "value"))
        else:
            value = reader.decimal(fields["value"], join(path, "value"), minimum=Decimal(0), maximum=MAX_AMOUNT)
        ok = ok and value is not None
    elif kind is not None and "value" in fields:
        reader.problem(fields["value"], join(path, "value"), _(
            "a %(kind)s subsidy takes no value; use kind percent or fixed for an amount") % {"kind": kind})
        ok = False
    plan_year = None
    if "plan_year" in fields:
        plan_year = reader.integer(fields["plan_year"], join(path, "plan_year"), minimum=1949, maximum=2200)
        ok = ok and plan_year is not None
        start, end = context.effective_from, context.effective_to
        if plan_year is not None and start is not None and (
                plan_year < start.year or (end is not None and plan_year > end.year)):
            reader.problem(fields["plan_year"], join(path, "plan_year"), _(
                "plan year %(year)s is outside the version's period (%(start)s – %(end)s)")
                % {"year": plan_year, "start": start.isoformat(), "end": end.isoformat() if end else "…"})
            ok = False
    funding = FundingSource.MEDICAL_ASSISTANCE.value
    if "funding_source" in fields:
        funding = reader.choice(fields["funding_source"], join(path, "funding_source"),
                                dict(FundingSource.choices))
    cost_shared = False
    if "cost_shared" in fields:
        cost_shared = reader.boolean(fields["cost_shared"], join(path, "cost_shared"))
    note = ""
    if "note" in fields:
        note = reader.text(fields["note"], join(path, "note"), max_length=200)
    if not ok or None in (category, kind, funding, cost_shared, note):
        return None
    return SubsidySpec(category=category, kind=kind, value=value, plan_year=plan_year, funding_source=funding,
                       cost_shared=cost_shared, note=note, path=path, line=reader.line(node))


def _parse_cost_share(reader: NodeReader, node, path: str) -> CostShareSpec | None:
    fields = reader.mapping(node, path, required=("county_class", "province", "prefecture", "county"))
    if fields is None or len(fields) < 4:
        return None
    county_class = reader.integer(fields["county_class"], join(path, "county_class"), minimum=1, maximum=99)
    shares = [reader.decimal(fields[name], join(path, name), minimum=Decimal(0), maximum=MAX_SHARE)
              for name in ("province", "prefecture", "county")]
    if county_class is None or None in shares:
        return None
    if not any(shares):
        reader.problem(node, path, _("the province, prefecture and county shares cannot all be zero"))
        return None
    return CostShareSpec(county_class, *shares, path=path, line=reader.line(node))


def _parse_enrollment(reader: NodeReader, node, path: str, context: ParseContext) -> EnrollmentSection | None:
    fields = reader.mapping(node, path, optional=(
        "intake", "full_subsidy_base", "top_up_on_identity_change", "subsidies", "cost_sharing"))
    if fields is None:
        return None
    defaults = EnrollmentSection()
    intake = defaults.intake
    if "intake" in fields:
        intake = _parse_intake(reader, fields["intake"], join(path, "intake"), context)
    base = defaults.full_subsidy_base
    if "full_subsidy_base" in fields:
        base = reader.choice(fields["full_subsidy_base"], join(path, "full_subsidy_base"), FullSubsidyBase.values)
    top_up = defaults.top_up_on_identity_change
    if "top_up_on_identity_change" in fields:
        top_up = reader.boolean(fields["top_up_on_identity_change"], join(path, "top_up_on_identity_change"))

    cost_sharing: list[CostShareSpec] = []
    if "cost_sharing" in fields:
        list_path = join(path, "cost_sharing")
        for index, entry in enumerate(reader.sequence(fields["cost_sharing"], list_path) or []):
            spec = _parse_cost_share(reader, entry, item(list_path, index))
            if spec is None:
                continue
            if any(other.county_class == spec.county_class for other in cost_sharing):
                reader.problem(entry, join(item(list_path, index), "county_class"), _(
                    "county class %(class)s is given twice") % {"class": spec.county_class})
                continue
            cost_sharing.append(spec)

    subsidies: list[SubsidySpec] = []
    if "subsidies" in fields:
        list_path = join(path, "subsidies")
        for index, entry in enumerate(reader.sequence(fields["subsidies"], list_path) or []):
            spec = _parse_subsidy(reader, entry, item(list_path, index), context)
            if spec is None:
                continue
            if any((o.category, o.plan_year) == (spec.category, spec.plan_year) for o in subsidies):
                reader.problem(entry, item(list_path, index), _(
                    "category %(code)r already has a rule for %(year)s") % {
                    "code": spec.category,
                    "year": spec.plan_year if spec.plan_year is not None else _("every plan year")})
                continue
            if spec.cost_shared and "cost_sharing" not in fields:
                reader.problem_at(join(spec.path, "cost_shared"), _(
                    "a cost-shared subsidy needs a `cost_sharing:` list in this section"), entry)
                continue
            subsidies.append(spec)
    if intake is None or base is None or top_up is None:
        return None
    return EnrollmentSection(intake=intake, full_subsidy_base=base, top_up_on_identity_change=top_up,
                             subsidies=tuple(subsidies), cost_sharing=tuple(cost_sharing))


register_section("regions", _parse_regions, default=tuple)
register_section("statistics", _parse_statistics, default=tuple)
register_section("enrollment", _parse_enrollment, default=EnrollmentSection)


# ------------------------------------------------------------------------------------------------- entry point

def _decode(document: str | bytes) -> str:
    if isinstance(document, bytes):
        document = document.decode("utf-8-sig")
    return document.removeprefix("\ufeff")


# Limits of a policy document. The real files are a few kilobytes, four or five levels deep, with a handful of
# anchors; the limits are far above that and far below what would take the server down.
MAX_DOCUMENT_CHARACTERS = 512 * 1024
MAX_DEPTH = 32
MAX_ALIASES = 200
MAX_EXPANDED_VALUES = 100_000  # values the document would have with every alias written out


def _check_limits(text: str, source_name: str) -> None:
    """Refuse, with a clear message, what would crash the YAML composer (deep nesting: recursion) or make reading
    the tree explode (a "billion laughs" of nested aliases), before any node tree is built.

    The parser's events are walked once: PyYAML's parser keeps its own stack (no recursion), and an alias event
    is counted at the expanded size of its anchor without expanding anything.
    """
    def refuse(message: str, line: int | None = None):
        raise PolicyFileError(source_name, [PolicyIssue(line, "", message)])

    if len(text) > MAX_DOCUMENT_CHARACTERS:
        refuse(_("the file is too large (%(size)d characters; at most %(max)d)")
               % {"size": len(text), "max": MAX_DOCUMENT_CHARACTERS})
    found = find_control_character(text.replace("\t", " "))
    if found is not None:
        position, char = found
        line = text.count("\n", 0, position - 1) + 1
        column = position - (text.rfind("\n", 0, position - 1) + 1)
        refuse(_("column %(column)d holds the invisible control character U+%(code)04X; remove it")
               % {"column": column, "code": ord(char)}, line)
    sizes: dict[str, int] = {}
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, expanded count when the collection opened)
    expanded = aliases = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            line = event.start_mark.line + 1 if event.start_mark else None
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    refuse(_("too many aliases (*name); at most %(max)d") % {"max": MAX_ALIASES}, line)
                expanded += sizes.get(event.anchor, 1)
            elif isinstance(event, yaml.ScalarEvent):
                expanded += 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                open_nodes.append((event.anchor, expanded))
                expanded += 1
                if len(open_nodes) > MAX_DEPTH:
                    refuse(_("nested too deeply (more than %(max)d levels)") % {"max": MAX_DEPTH}, line)
            elif isinstance(event, yaml.CollectionEndEvent) and open_nodes:
                anchor, start = open_nodes.pop()
                if anchor:
                    sizes[anchor] = expanded - start
            if expanded > MAX_EXPANDED_VALUES:
                refuse(_("the aliases (*name) would expand the file to more than %(max)d values")
                       % {"max": MAX_EXPANDED_VALUES}, line)
    except yaml.YAMLError:
        return  # not YAML at all: the composer reports it with its line


def parse_policy_document(document: str | bytes, *, source_name: str,
                          known_categories: Collection[str] | None = None) -> PolicyDocument:
    """Parse and validate a policy file; raise :class:`PolicyFileError` listing every problem.

    ``known_categories``: the identity-category codes that exist (None skips that check, for tools that have
    no database at hand).
    """
    try:
        text = _decode(document)
    except UnicodeDecodeError as exc:
        raise PolicyFileError(source_name, [PolicyIssue(None, "", _(
            "the file is not UTF-8 text (byte %(offset)d); save it as UTF-8") % {"offset": exc.start})]) from exc
    _check_limits(text, source_name)
    try:
        json.loads(text)
    except ValueError:
        pass
    else:
        # Valid JSON cannot hold a raw tab inside a string, so every tab is layout, which YAML rejects.
        text = text.replace("\t", " ")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise PolicyFileError(source_name, [PolicyIssue(
            mark.line + 1 if mark else None, "", _("not valid YAML or JSON: %(problem)s") % {"problem": problem})]
        ) from exc
    except yaml.YAMLError as exc:
        raise PolicyFileError(source_name, [PolicyIssue(None, "", _("not valid YAML or JSON: %(problem)s")
                                                        % {"problem": exc})]) from exc
    if root is None:
        raise PolicyFileError(source_name, [PolicyIssue(None, "", _("the file is empty"))])

    reader = NodeReader()
    allowed = (*HEADER_FIELDS, *SECTION_PARSERS)
    fields = reader.mapping(
        root, "", required=("code", "name", "effective_from", "region"),
        optional=[name for name in allowed if name not in ("code", "name", "effective_from", "region")],
        unknown_message=_("unknown section or field %(key)r; the top level allows: %(allowed)s"), order=allowed)
    if fields is None:
        raise PolicyFileError(source_name, reader.issues)

    header: dict[str, Any] = {}
    if "format" in fields:
        header["format"] = reader.integer(fields["format"], "format", minimum=FORMAT_VERSION,
                                          maximum=FORMAT_VERSION)
    if "code" in fields:
        header["code"] = reader.text(fields["code"], "code", max_length=64, required=True)
        if header["code"] and not _CODE_RE.match(header["code"]):
            reader.problem(fields["code"], "code", _("use only letters, digits, '-' and '_'"))
    if "name" in fields:
        header["name"] = reader.text(fields["name"], "name", max_length=200, required=True)
    for name in ("document",):
        if name in fields:
            header[name] = reader.text(fields[name], name, max_length=200)
    if "notes" in fields:
        header["notes"] = reader.text(fields["notes"], "notes")
    start = reader.date(fields["effective_from"], "effective_from") if "effective_from" in fields else None
    end = reader.date(fields["effective_to"], "effective_to") if "effective_to" in fields else None
    if start and end and end < start:
        reader.problem(fields["effective_to"], "effective_to", _(
            "ends before the version starts (effective_from is %(start)s)") % {"start": start.isoformat()})
        end = None

    region, parents = (None, ())
    if "region" in fields:
        region, parents = _parse_header_region(reader, fields["region"], "region")
    context = ParseContext(region_code=region.code if region else None, effective_from=start, effective_to=end,
                           known_categories=known_categories)
    for spec in (*parents, *((region,) if region else ())):
        if spec.code in context.declared_regions:
            code_path = join(spec.path, "code")
            reader.issues.append(PolicyIssue(reader.lines.get(code_path, spec.line), code_path, _(
                "region %(code)s is declared twice") % {"code": spec.code}))
        context.declared_regions[spec.code] = spec.level

    sections = {}
    for name, section in SECTION_PARSERS.items():
        sections[name] = section.parse(reader, fields[name], name, context) if name in fields else section.default()

    if reader.issues:
        raise PolicyFileError(source_name, _sorted(reader.issues))
    return PolicyDocument(
        source_name=source_name, format=header.get("format") or FORMAT_VERSION, code=header["code"],
        name=header["name"], document=header.get("document") or "", notes=header.get("notes") or "",
        effective_from=start, effective_to=end, region=region, parents=parents, sections=sections,
        lines=dict(reader.lines))


def _sorted(issues: list[PolicyIssue]) -> list[PolicyIssue]:
    # File order reads best; problems without a line (whole-file ones) first.
    return sorted(issues, key=lambda issue: (issue.line or 0))
