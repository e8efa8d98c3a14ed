"""Downloadable templates (导入模板): an .xlsx with the Chinese headers of one kind and one example row."""

from datetime import date

import tablib
from import_export.formats.base_formats import XLSX

from ..idnumbers import make_id_number
from ..models.imports import ImportKind
from ..models.regions import RegionLevel
from ..scoping import visible_regions
from .columns import COLUMNS

TEMPLATE_FORMAT = XLSX()
_FALLBACK_REGION = "522701"
SHEET_TITLES = {
    ImportKind.REGIONS: "行政区划",
    ImportKind.ROSTER: "花名册",
    ImportKind.IDENTITIES: "身份认定",
    ImportKind.ENROLLMENTS: "参保台账",
}


def _example_region_code(user) -> str:
    """A county the user works in, so the example row imports for them as it stands."""
    regions = visible_regions(user).order_by("code")
    county = regions.filter(level=RegionLevel.COUNTY).values_list("code", flat=True).first()
    return county or regions.values_list("code", flat=True).first() or _FALLBACK_REGION


def example_row(kind: str, user) -> dict[str, object]:
    """Example values by column key; text, so Excel keeps ID numbers and codes exactly as written."""
    region_code = _example_region_code(user)
    id_number = make_id_number(region_code, date(1968, 3, 8), 123)
    if kind == ImportKind.REGIONS:
        return {"code": region_code, "name": "都匀市", "level": "区县", "parent_code": region_code[:4] + "00",
                "cost_share_class": "3"}
    if kind == ImportKind.IDENTITIES:
        return {"id_number": id_number, "category": "特困人员", "valid_from": "2024-03-01", "valid_to": "",
                "certified_by": "民政", "source_document": "民发〔2024〕12号", "source_batch": "2024-03"}
    if kind == ImportKind.ENROLLMENTS:
        return {"id_number": id_number, "plan_year": "2025", "scheme": "一档", "status": "已参保",
                "cannot_reason": "", "cannot_evidence": "", "contribution_due": "380.00", "person_paid": "0.00",
                "paid_on": "2024-12-20"}
    return {
        "id_number": id_number, "name": "张三", "household_number": f"H{region_code}0001",
        "region_code": region_code, "township": "墨冲镇", "village": "新场村", "relation": "户主",
        "address": "墨冲镇新场村二组", "income": "12000.00", "income_year": "2024", "income_source": "民政核定",
        "assets": "50000.00", "assets_year": "2024", "assets_source": "民政核定", "bank_name": "中国农业银行",
        "bank_account": "6228480000000000000", "phone": "13800000000", "category": "低保对象",
        "valid_from": "2024-01-01", "valid_to": "", "certified_by": "民政", "source_document": "民发〔2024〕1号",
        "source_batch": "2024-01",
    }


def template_workbook(kind: str, user) -> bytes:
    columns = COLUMNS[kind]
    example = example_row(kind, user)
    dataset = tablib.Dataset(headers=[column.header for column in columns], title=SHEET_TITLES[kind])
    dataset.append([example.get(column.key, "") for column in columns])
    return TEMPLATE_FORMAT.export_data(dataset)


def template_file_name(kind: str) -> str:
    return f"{SHEET_TITLES[kind]}导入模板.{TEMPLATE_FORMAT.get_extension()}"
