"""Roster files (花名册): households (家庭户) and their members, one row per person.

A row may also carry one identity (a combined 民政 roster: 身份类别 / 开始日期 / 结束日期 …), so a whole
county's roster with identities is one file. Household cells repeat on every member's row and must agree.
An empty cell leaves the stored value as it is; a file never erases data by leaving a cell out.
"""

from dataclasses import dataclass, field
from datetime import date

from django.utils.translation import gettext as _

from ..idnumbers import mask_bank_account
from ..models import Household, Identity, Person
from ..models.imports import ImportKind
from .base import CREATE, LOOKUP_CHUNK, SAME, UPDATE, Context, Importer, Row, chunked
from .cells import parse_money, parse_year
from .columns import ROSTER_COLUMNS
from .identities import IdentityDraft, plan_identities, read_identity, write_identities
from .writer import Writer

# File column → Household field, for the figures that are the household's, not the member's.
HOUSEHOLD_CELLS = (
    ("address", "address"),
    ("income", "annual_income"),
    ("income_year", "income_year"),
    ("income_source", "income_source"),
    ("assets", "assets_value"),
    ("assets_year", "assets_year"),
    ("assets_source", "assets_source"),
)
HOUSEHOLD_FIELDS = [model_field for _key, model_field in HOUSEHOLD_CELLS]
HOUSEHOLD_UPDATE_FIELDS = ["region", "township", "village", *HOUSEHOLD_FIELDS]
PERSON_TEXT_FIELDS = ("relation_to_head", "township", "village", "phone", "bank_name", "bank_account")
PERSON_UPDATE_FIELDS = ["name", "region", "household", "id_converted_from", *PERSON_TEXT_FIELDS]


@dataclass(slots=True)
class HouseholdDraft:
    number: str
    row: int
    region_id: int
    township: str
    village: str
    values: dict = field(default_factory=dict)  # Household field → value, only what the file gives
    value_rows: dict = field(default_factory=dict)  # Household field → the row that first gave it
    pk: int | None = None
    action: str = ""


@dataclass(slots=True)
class PersonDraft:
    row: int
    id_number: str
    converted_from: str
    sex: str
    birth_date: date
    name: str
    region_id: int
    household_number: str
    relation_to_head: str
    township: str
    village: str
    phone: str
    bank_name: str
    bank_account: str
    identity: IdentityDraft | None = None
    masked_account: str = ""  # the bank account cell as an export masked it
    pk: int | None = None
    action: str = ""


class RosterImporter(Importer):
    kind = ImportKind.ROSTER
    columns = ROSTER_COLUMNS
    models = (Household, Person, Identity)

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.people: list[PersonDraft] = []
        self.households: dict[str, HouseholdDraft] = {}
        self.first_row: dict[str, int] = {}
        self._may_add_identities: bool | None = None

    # --- check pass -------------------------------------------------------------------------------------
    def check_row(self, row: Row) -> None:
        ctx = self.ctx
        parsed = row.id_number()
        name = row.text("name", 64, required=True)
        region = row.region(ctx, "region_code")
        household_number = row.text("household_number", 32)
        township = row.text("township", 64)
        village = row.text("village", 64)
        person_text = {
            "relation_to_head": row.text("relation", 16),
            "phone": row.text("phone", 20),
            "bank_name": row.text("bank_name", 64),
            "bank_account": row.text("bank_account", 32),
        }
        masked_account = ""
        if "*" in person_text["bank_account"]:
            # An exported roster shows accounts masked: its own mask means "keep the account on file" (checked
            # against the stored account in resolve), never a new account.
            masked_account, person_text["bank_account"] = person_text["bank_account"], ""
        household_values = {
            "address": row.text("address", 200) or None,
            "annual_income": row.read("income", parse_money),
            "income_year": row.read("income_year", parse_year),
            "income_source": row.text("income_source", 100) or None,
            "assets_value": row.read("assets", parse_money),
            "assets_year": row.read("assets_year", parse_year),
            "assets_source": row.text("assets_source", 100) or None,
        }
        household_values = {k: v for k, v in household_values.items() if v is not None}
        identity = read_identity(row, ctx, parsed.number if parsed else None, required=False)
        if identity is not None and not self.may_add_identities:
            row.error("category", _("You may not import identities; leave the identity columns empty."))

        if parsed is not None:
            first = self.first_row.get(parsed.number)
            if first is not None:
                # Without the number: the result page is also read by clerks who see ID numbers masked.
                row.error("id_number", _("This ID number is already on row %(row)d; a person appears once in a "
                                         "roster.") % {"row": first})
                return
            self.first_row[parsed.number] = row.number
        if household_values and not household_number:
            key = next(key for key, model_field in HOUSEHOLD_CELLS if model_field in household_values)
            row.error(key, _("Household figures need the household number (column %(column)s).")
                      % {"column": row.header("household_number")})
        if not row.ok:
            return
        if household_number:
            self._merge_household(row, household_number, region, township, village, household_values)
            if not row.ok:
                return
        self.people.append(PersonDraft(
            row=row.number, id_number=parsed.number, converted_from=parsed.converted_from, sex=parsed.sex,
            birth_date=parsed.birth_date, name=name, region_id=region.id, household_number=household_number,
            township=township, village=village, identity=identity, masked_account=masked_account, **person_text))

    @property
    def may_add_identities(self) -> bool:
        if self._may_add_identities is None:
            self._may_add_identities = self.ctx.user.has_perm("enrollment.add_identity")
        return self._may_add_identities

    def _merge_household(self, row: Row, number: str, region, township: str, village: str, values: dict) -> None:
        draft = self.households.get(number)
        if draft is None:
            self.households[number] = HouseholdDraft(
                number=number, row=row.number, region_id=region.id, township=township, village=village,
                values=values, value_rows=dict.fromkeys(values, row.number))
            return
        if draft.region_id != region.id:
            row.error("region_code", _("Household %(number)s is in region %(code)s on row %(row)d; all members "
                                       "of a household are in one region.")
                      % {"number": number, "code": self.ctx.regions_by_id[draft.region_id].code, "row": draft.row})
        for key, model_field in HOUSEHOLD_CELLS:
            if model_field not in values:
                continue
            if model_field in draft.values and draft.values[model_field] != values[model_field]:
                row.error(key, _("Household %(number)s has “%(other)s” here on row %(row)d; the rows of one "
                                 "household must agree.")
                          % {"number": number, "other": draft.values[model_field],
                             "row": draft.value_rows[model_field]})
            elif model_field not in draft.values:
                draft.values[model_field] = values[model_field]
                draft.value_rows[model_field] = row.number
        draft.township = draft.township or township
        draft.village = draft.village or village

    # --- compare with the database ----------------------------------------------------------------------
    def resolve(self) -> None:
        self._resolve_households()
        self._resolve_people()
        identities = []
        for person in self.people:
            if person.identity is not None:
                person.identity.person_pk = person.pk
                identities.append(person.identity)
        plan_identities(identities, self.counts["identity"], self.reject)

    def _resolve_households(self) -> None:
        ctx = self.ctx
        for chunk in chunked(list(self.households), LOOKUP_CHUNK):
            rows = Household.objects.filter(number__in=chunk).values_list(
                "pk", "number", "region_id", "township", "village", *HOUSEHOLD_FIELDS)
            for pk, number, region_id, township, village, *figures in rows:
                draft = self.households[number]
                draft.pk = pk
                current_region = ctx.regions_by_id[region_id]
                if not ctx.can_reach(current_region):
                    # Where it is kept is not the clerk's business: naming the region would make this an oracle.
                    self.reject(draft.row, "household_number", _(
                        "Household number %(number)s cannot be used in your regions; choose another number.")
                        % {"number": number})
                stored = dict(zip(HOUSEHOLD_FIELDS, figures, strict=True))
                changed = (
                    draft.region_id != region_id
                    or (draft.township and draft.township != township)
                    or (draft.village and draft.village != village)
                    or any(stored[name] != value for name, value in draft.values.items())
                )
                draft.action = UPDATE if changed else SAME
        for draft in self.households.values():
            draft.action = draft.action or CREATE
            self.counts["household"].add(draft.action)

    def _resolve_people(self) -> None:
        ctx = self.ctx
        by_number = {person.id_number: person for person in self.people}
        for chunk in chunked(list(by_number), LOOKUP_CHUNK):
            rows = Person.objects.filter(id_number__in=chunk).values_list(
                "pk", "id_number", "region_id", "name", "household_id", "id_converted_from", *PERSON_TEXT_FIELDS)
            for pk, number, region_id, stored_name, household_id, converted_from, *texts in rows:
                draft = by_number[number]
                draft.pk = pk
                current_region = ctx.regions_by_id[region_id]
                if not ctx.can_reach(current_region):
                    # A registered number cannot be registered twice, so refusing says it exists; the message
                    # at least names no region, and moving someone is the holding office's decision.
                    self.reject(draft.row, "id_number", _(
                        "This ID number cannot be registered in your regions; if the person moved here, the office "
                        "that keeps their record must transfer it."))
                stored = dict(zip(PERSON_TEXT_FIELDS, texts, strict=True))
                if draft.masked_account and draft.masked_account != mask_bank_account(stored["bank_account"]):
                    self.reject(draft.row, "bank_account", _(
                        "This bank account is masked and is not the account on file; write the full account "
                        "number, or leave the cell empty to keep the account on file."))
                household = self.households.get(draft.household_number) if draft.household_number else None
                changed = (
                    draft.name != stored_name
                    or draft.region_id != region_id
                    or (household is not None and (household.pk is None or household.pk != household_id))
                    or (draft.converted_from and draft.converted_from != converted_from)
                    or any(getattr(draft, f) and getattr(draft, f) != stored[f] for f in PERSON_TEXT_FIELDS)
                )
                draft.action = UPDATE if changed else SAME
        for draft in self.people:
            if draft.masked_account and draft.pk is None:
                self.reject(draft.row, "bank_account", _(
                    "A masked bank account cannot be registered; write the full account number or leave the cell "
                    "empty."))
            draft.action = draft.action or CREATE
            self.counts["person"].add(draft.action)

    # --- write ------------------------------------------------------------------------------------------
    def write(self, writer: Writer) -> None:
        households = self.households

        def build_household(draft: HouseholdDraft) -> dict:
            return {"number": draft.number, "region_id": draft.region_id, "township": draft.township,
                    "village": draft.village, **draft.values}

        def apply_household(household: Household, draft: HouseholdDraft) -> None:
            household.region_id = draft.region_id
            if draft.township:
                household.township = draft.township
            if draft.village:
                household.village = draft.village
            for name, value in draft.values.items():
                setattr(household, name, value)

        def household_pk(draft: PersonDraft) -> int | None:
            return households[draft.household_number].pk if draft.household_number else None

        def build_person(draft: PersonDraft) -> dict:
            # Bulk writes bypass Person.save(), so the fields it derives from the ID are set here.
            return {
                "id_number": draft.id_number, "id_converted_from": draft.converted_from, "name": draft.name,
                "sex": draft.sex, "birth_date": draft.birth_date, "household_id": household_pk(draft),
                "region_id": draft.region_id, "relation_to_head": draft.relation_to_head,
                "township": draft.township, "village": draft.village, "phone": draft.phone,
                "bank_name": draft.bank_name, "bank_account": draft.bank_account,
            }

        def apply_person(person: Person, draft: PersonDraft) -> None:
            person.name = draft.name
            person.region_id = draft.region_id
            if draft.household_number:
                person.household_id = household_pk(draft)
            if draft.converted_from:
                person.id_converted_from = draft.converted_from
            for name in PERSON_TEXT_FIELDS:
                if value := getattr(draft, name):
                    setattr(person, name, value)

        drafts = list(households.values())
        writer.create(Household, [d for d in drafts if d.action == CREATE], build_household)
        writer.update(Household, [d for d in drafts if d.action == UPDATE], apply_household, HOUSEHOLD_UPDATE_FIELDS)
        writer.create(Person, [d for d in self.people if d.action == CREATE], build_person)
        writer.update(Person, [d for d in self.people if d.action == UPDATE], apply_person, PERSON_UPDATE_FIELDS)
        identities = []
        for person in self.people:
            if person.identity is not None:
                person.identity.person_pk = person.pk
                identities.append(person.identity)
        write_identities(writer, self.ctx, identities)
