"""The file formats: which Chinese column headers each kind of import reads, and the values it accepts.

The headers and the Chinese spellings of choice values are part of the exchange format agreed with the
departments (民政, 乡村振兴) and the clerks' spreadsheets, so they are data here, not translatable UI text.
"""

from dataclasses import dataclass

from ..models.choices import Department, Scheme
from ..models.imports import ImportKind
from ..models.ledger import CannotEnrolReason, EnrollmentStatus
from ..models.regions import RegionLevel


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    required: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.header, *self.aliases)


ID_NUMBER = Column("id_number", "身份证号", required=True, aliases=("身份证号码", "公民身份号码", "证件号码"))

# Identity columns (身份/属性): the whole file for 民政 / 乡村振兴 identity lists, optional extra columns of a roster.
IDENTITY_COLUMNS = (
    Column("category", "身份类别", aliases=("人员类别", "身份属性")),
    Column("valid_from", "开始日期", aliases=("认定日期", "起始日期")),
    Column("valid_to", "结束日期", aliases=("终止日期", "退出日期")),
    Column("certified_by", "认定部门"),
    Column("source_document", "认定文件"),
    Column("source_batch", "批次号", aliases=("批次",)),
)

REGION_COLUMNS = (
    Column("code", "行政区划代码", required=True, aliases=("区划代码",)),
    Column("name", "名称", required=True, aliases=("区划名称",)),
    Column("level", "层级", required=True, aliases=("级别",)),
    Column("parent_code", "上级代码", aliases=("上级行政区划代码",)),
    Column("cost_share_class", "分担类别"),
)

ROSTER_COLUMNS = (
    ID_NUMBER,
    Column("name", "姓名", required=True),
    Column("household_number", "户编号", aliases=("户号", "家庭编号")),
    Column("region_code", "行政区划代码", required=True, aliases=("区划代码",)),
    Column("township", "乡镇", aliases=("乡镇（街道）", "乡镇(街道)", "乡镇街道")),
    Column("village", "村", aliases=("村（社区）", "村(社区)", "村社区")),
    Column("relation", "与户主关系"),
    Column("address", "家庭住址", aliases=("住址",)),
    Column("income", "家庭年可支配收入", aliases=("家庭年可支配总收入",)),
    Column("income_year", "收入年度"),
    Column("income_source", "收入来源"),
    Column("assets", "家庭资产", aliases=("家庭资产总值",)),
    Column("assets_year", "资产年度"),
    Column("assets_source", "资产来源"),
    Column("bank_name", "开户银行"),
    Column("bank_account", "银行账号", aliases=("银行卡号",)),
    Column("phone", "联系电话", aliases=("电话", "手机号码")),
    *IDENTITY_COLUMNS,
)

IDENTITY_FILE_COLUMNS = (
    ID_NUMBER,
    *(Column(c.key, c.header, required=c.key in ("category", "valid_from"), aliases=c.aliases)
      for c in IDENTITY_COLUMNS),
)

ENROLLMENT_COLUMNS = (
    ID_NUMBER,
    Column("plan_year", "参保年度", required=True),
    Column("scheme", "参保档次"),
    Column("status", "参保状态"),
    Column("cannot_reason", "不能参保原因"),
    Column("cannot_evidence", "佐证材料"),
    Column("contribution_due", "应缴金额"),
    Column("person_paid", "个人缴费"),
    Column("paid_on", "缴费日期"),
)

COLUMNS: dict[str, tuple[Column, ...]] = {
    ImportKind.REGIONS: REGION_COLUMNS,
    ImportKind.ROSTER: ROSTER_COLUMNS,
    ImportKind.IDENTITIES: IDENTITY_FILE_COLUMNS,
    ImportKind.ENROLLMENTS: ENROLLMENT_COLUMNS,
}

# The permission a user needs to run each kind of import (the same as adding one record in the admin).
PERMISSIONS: dict[str, str] = {
    ImportKind.REGIONS: "enrollment.add_region",
    ImportKind.ROSTER: "enrollment.add_person",
    ImportKind.IDENTITIES: "enrollment.add_identity",
    ImportKind.ENROLLMENTS: "enrollment.add_enrollment",
}

# Chinese spellings accepted for choice values, besides the stored code itself.
LEVEL_SPELLINGS = {
    RegionLevel.PROVINCE: ("省", "省级", "省份", "自治区", "直辖市"),
    RegionLevel.PREFECTURE: ("市", "州", "地市", "市州", "地区", "盟", "地级", "市级", "地级市", "自治州"),
    RegionLevel.COUNTY: ("县", "区", "县级", "区县", "县区", "县级市", "旗", "自治县"),
}
DEPARTMENT_SPELLINGS = {
    Department.CIVIL_AFFAIRS: ("民政", "民政局", "民政部门"),
    Department.RURAL_REVITALIZATION: ("乡村振兴", "乡村振兴局", "乡村振兴部门", "农业农村局"),
    Department.POVERTY_OFFICE: ("扶贫办", "扶贫开发办公室"),
    Department.MEDICAL_INSURANCE: ("医保", "医保局", "医疗保障局"),
    Department.HEALTH: ("卫健", "卫健委", "卫生健康委", "卫生健康局"),
}
SCHEME_SPELLINGS = {
    Scheme.RESIDENT_TIER1: ("一档", "城乡居民一档", "居民一档", "城乡居民医保一档"),
    Scheme.RESIDENT_TIER2: ("二档", "城乡居民二档", "居民二档", "城乡居民医保二档"),
    Scheme.EMPLOYEE: ("职工", "职工医保", "职工基本医疗保险"),
}
STATUS_SPELLINGS = {
    EnrollmentStatus.SHOULD_ENROL: ("应参保",),
    EnrollmentStatus.INSURED: ("已参保",),
    EnrollmentStatus.NOT_INSURED: ("未参保",),
    EnrollmentStatus.CANNOT_ENROL: ("不能参保", "无法参保"),
}
CANNOT_REASON_SPELLINGS = {
    CannotEnrolReason.MILITARY: ("参军", "服兵役", "入伍"),
    CannotEnrolReason.SCHOOL: ("入学", "在校学生", "外地入学"),
    CannotEnrolReason.EMPLOYEE_SCHEME: ("已参加职工医保", "职工医保"),
    CannotEnrolReason.DECEASED: ("死亡", "已死亡"),
    CannotEnrolReason.IMPRISONED: ("服刑", "在监服刑"),
    CannotEnrolReason.ABROAD: ("出国定居", "出国", "定居国外"),
    CannotEnrolReason.INSURED_ELSEWHERE: ("异地参保", "外地参保", "已在外地参保"),
    CannotEnrolReason.OTHER: ("其他",),
}
# Other names the departments use for seeded identity categories (SPEC §2); the category's own code and
# name are always accepted.
CATEGORY_ALIASES = {
    "特困供养人员": "tekun",
    "特困": "tekun",
    "低保": "dibao",
    "低保户": "dibao",
    "边缘家庭救助对象": "dibao_edge",
    "低保边缘": "dibao_edge",
    "监测对象（脱贫不稳定户）": "unstable_lifted",
    "监测对象（边缘易致贫户）": "edge_vulnerable",
    "监测对象（突发严重困难户）": "sudden_hardship",
    "建档立卡贫困户": "registered_poor",
    "脱贫人口": "stable_lifted",
}


def normalise_label(value: str) -> str:
    """Compare headers and choice spellings without the spaces, asterisks and full-width forms clerks add."""
    text = str(value).replace("\u3000", " ").strip().rstrip("*＊").strip()
    return "".join(text.split()).replace("（", "(").replace("）", ")").lower()


@dataclass(frozen=True)
class Choices:
    """Every accepted spelling of a choice (code, label, Chinese spellings) → the stored code."""

    lookup: dict[str, str]
    shown: tuple[str, ...]  # what messages list as the accepted values


def choices_of(choices, spellings: dict) -> Choices:
    lookup: dict[str, str] = {}
    shown = []
    for value, label in choices.choices:
        lookup[normalise_label(value)] = value
        lookup[normalise_label(str(label))] = value
        for spelling in spellings.get(value, ()):
            lookup[normalise_label(spelling)] = value
        shown.append(spellings[value][0] if spellings.get(value) else value)
    return Choices(lookup=lookup, shown=tuple(shown))


LEVELS = choices_of(RegionLevel, LEVEL_SPELLINGS)
DEPARTMENTS = choices_of(Department, DEPARTMENT_SPELLINGS)
SCHEMES = choices_of(Scheme, SCHEME_SPELLINGS)
STATUSES = choices_of(EnrollmentStatus, STATUS_SPELLINGS)
CANNOT_REASONS = choices_of(CannotEnrolReason, CANNOT_REASON_SPELLINGS)


@dataclass(frozen=True)
class BoundColumns:
    """Where each known column sits in the file, and the header text as the clerk wrote it."""

    index: dict[str, int]
    header: dict[str, str]
    missing: tuple[Column, ...]
    duplicated: tuple[str, ...]


def bind_headers(cells, columns: tuple[Column, ...]) -> BoundColumns:
    wanted = {}
    for column in columns:
        for spelling in column.spellings:
            wanted[normalise_label(spelling)] = column
    index: dict[str, int] = {}
    header: dict[str, str] = {}
    duplicated = []
    for position, cell in enumerate(cells):
        if cell is None:
            continue
        column = wanted.get(normalise_label(cell))
        if column is None:
            continue  # unknown columns (序号, 备注 …) are the department's own; ignore them
        if column.key in index:
            duplicated.append(str(cell).strip())
            continue
        index[column.key] = position
        header[column.key] = str(cell).strip()
    for column in columns:
        header.setdefault(column.key, column.header)
    missing = tuple(c for c in columns if c.required and c.key not in index)
    return BoundColumns(index=index, header=header, missing=missing, duplicated=tuple(duplicated))


def looks_like_header(cells, columns: tuple[Column, ...]) -> bool:
    """A row is the header row when it names every required column (title rows above it are skipped)."""
    bound = bind_headers(cells, columns)
    return not bound.missing and bool(bound.index)
