"""Request and response models of the REST API (the contract in API.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SourceKind = Literal["city_key", "province_key", "national_key", "investment_platform", "reserve_plan",
                     "supply_plan", "manual"]


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] = []
    existing_code: str | None = None


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: SourceKind = Field(description="来源：重点项目、投资平台、储备计划、供应计划或手工登记")
    ref: str | None = Field(None, max_length=200, description="来源中的编号或行号")


RefKind = Literal["supply_supervision_no", "approval_supervision_no", "unit_no", "parcel_code", "certificate_no",
                  "case_no", "supervision_no", "source_ref"]


class RefIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: RefKind = Field(description="交叉引用：supply_supervision_no 供地电子监管号（16 位）、approval_supervision_no "
                                      "报批监管号（19 位）、unit_no 不动产单元号（28 位，GB/T 37346）、parcel_code 宗地代码"
                                      "（19 位）、certificate_no 不动产权证书号、case_no 案卷号；supervision_no 为 "
                                      "supply_supervision_no 的旧名")
    value: str = Field(min_length=1, max_length=100, description="按其类型的标准校验，格式错误返回 422（refs.N.value）")


class RefOut(BaseModel):
    kind: str
    value: str


INVESTMENT_CODE_TEXT = ("投资项目代码（GB/T 40058-2021，24 位 NNNN-NNNNNN-NN-NN-NNNNNN；时间码为 2014–2020 年份或 YYMM 年月，"
                        "地区码为 GB/T 2260 代码，本市以外的地区码在响应的 warnings 中提示）")
ZONE_TEXT = "功能区（code-tables 的 zones 的 value，如 jingkai 常德经开区）；须属于 division 所示区县"


class ProjectIn(BaseModel):
    """登记项目并赋码。"""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="项目名称")
    division: str = Field(description="行政区划代码（6 位）")
    year: int | None = Field(None, ge=1, le=9999, description="年度，缺省为当前年份，即项目码中的年度段")
    approval_type: str = Field(description="项目批准类型代码")
    project_type: str = Field(description="项目类型代码")
    supply_type: str = Field(description="供地类型代码")
    land_use: str = Field(description="出让用途代码（4 位二级类）")
    builder: str | None = Field(None, max_length=200, description="建设单位")
    investment_code: str | None = Field(None, max_length=40, description=INVESTMENT_CODE_TEXT)
    zone: str | None = Field(None, max_length=32, description=ZONE_TEXT)
    sources: list[SourceIn] = Field(default_factory=list, max_length=50)
    refs: list[RefIn] = Field(default_factory=list, max_length=100)
    area_m2: float | None = Field(None, ge=0, le=1e10, description="用地面积（平方米）")
    parcels: list[dict[str, Any]] = Field(default_factory=list, max_length=500,
                                          description="GeoJSON Feature（Polygon/MultiPolygon，EPSG:4490）")


class ProjectPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    division: str | None = None
    year: int | None = Field(None, ge=1, le=9999)
    approval_type: str | None = None
    project_type: str | None = None
    supply_type: str | None = None
    land_use: str | None = None
    builder: str | None = Field(None, max_length=200)
    investment_code: str | None = Field(None, max_length=40, description=INVESTMENT_CODE_TEXT)
    zone: str | None = Field(None, max_length=32, description=ZONE_TEXT + "；null 表示不属功能区")
    area_m2: float | None = Field(None, ge=0, le=1e10)
    sources: list[SourceIn] | None = Field(None, max_length=50)
    refs: list[RefIn] | None = Field(None, max_length=100)


class VoidIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="作废原因")


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: str = Field(min_length=1, max_length=40, description="保留的项目码")
    reason: str = Field(min_length=1, max_length=2000, description="合并原因")


class SplitPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    division: str | None = None
    approval_type: str | None = None
    project_type: str | None = None
    supply_type: str | None = None
    land_use: str | None = None
    area_m2: float | None = Field(None, ge=0, le=1e10)


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parts: list[SplitPart] = Field(min_length=2, max_length=100)
    reason: str = Field(min_length=1, max_length=2000)


class SourceOut(BaseModel):
    kind: str
    ref: str | None


class ProjectOut(BaseModel):
    code: str = Field(description="28 位项目码")
    name: str
    status: Literal["active", "void", "merged"]
    merged_into: str | None
    division: str
    year: int
    approval_type: str
    project_type: str
    supply_type: str
    land_use: str
    builder: str | None
    investment_code: str | None
    area_m2: float | None
    zone: str | None = Field(None, description="功能区（code-tables 的 zones）")
    edition: str | None = Field(None, description="项目码签发时的代码表版本（如 2020、2023）：码段按此版本解读")
    refs: list[RefOut] = Field(default_factory=list, description="交叉引用（投资项目代码见 investment_code）")
    sources: list[SourceOut]
    current_stage: str
    code_outdated: bool
    parent_code: str | None = None
    created_at: str
    updated_at: str


class Notice(BaseModel):
    field: str
    message: str


class ProjectWritten(ProjectOut):
    warnings: list[Notice] = Field(default_factory=list,
                                   description="提示而非拒绝，如投资项目代码的地区码不在本市")


class ProjectPage(BaseModel):
    items: list[ProjectOut]
    next_cursor: str | None


class SegmentOut(BaseModel):
    name: str
    value: str
    label: str
    edition: str | None = Field(None, description="该段名称所依据的代码表版本（有版本的代码表，如出让用途）")
    retired: bool | None = Field(None, description="已停用的值：仍可解析，不能再用于赋码")
    replaced_by: str | None = None


class CodeOut(BaseModel):
    code: str
    valid: bool
    edition: str | None = Field(None, description="已登记项目的码：签发时的代码表版本；未登记的码为 null")
    segments: list[SegmentOut]


class TableEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    value: str
    label: str
    edition: str | None = None
    retired: bool | None = None
    replaced_by: str | None = None
    aliases: list[str] | None = None
    internal: bool | None = None


class ZoneOut(BaseModel):
    value: str
    label: str
    division: str
    aliases: list[str]


class StageCatalogueEntry(BaseModel):
    key: str
    name: str
    group: str | None


class CodeTables(BaseModel):
    model_config = ConfigDict(extra="allow")
    approval_type: list[TableEntry]
    project_type: list[TableEntry]
    supply_type: list[TableEntry]
    land_use: list[TableEntry]
    division: list[TableEntry]
    region: list[TableEntry]
    zones: list[ZoneOut] = []
    stages: list[StageCatalogueEntry]


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error responses of one operation (all problem+json)."""
    text = {400: "请求体无法解析", 401: "缺少或无效令牌", 403: "角色无权执行", 404: "资源不存在（或调用方无权看到）",
            409: "违反生命周期规则或重复提交", 413: "请求体或文件超过上限", 422: "字段校验失败（errors 指出字段）"}
    return {c: {"model": Problem, "description": text.get(c, ""), "content": {"application/problem+json": {}}}
            for c in codes}


StageStatus = Literal["pending", "in_progress", "done", "returned", "not_applicable"]


class StageOut(BaseModel):
    key: str
    name: str
    group: str | None
    status: StageStatus
    case_no: str | None
    department: str | None
    started_at: str | None
    finished_at: str | None
    note: str | None = None
    updated_by: str | None
    updated_at: str | None = None
    # [joint] the time limit: due date and working days left (null with due_note saying why)
    due: str | None = Field(None, description="法定（承诺）办理期限届满日 YYYY-MM-DD，按工作日计算")
    working_days_left: int | None = Field(None, description="今天之后到期限日（含）的工作日数，逾期为负")
    due_note: str | None = Field(None, description="期限为空的原因（如节假日日历无该年数据、计时中止）")
    time_limit_working_days: int | None = Field(None, description="时限（工作日）")
    suspensions: list[dict[str, Any]] | None = Field(None, description="计时中止（补正、听证、公示）")


class StagePut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: StageStatus = Field(description="阶段状态")
    case_no: str | None = Field(None, max_length=100, description="审批案卷号")
    department: str | None = Field(None, max_length=100, description="经办科室或部门")
    started_at: str | None = Field(None, max_length=40, description="开始日期 YYYY-MM-DD 或 RFC 3339")
    finished_at: str | None = Field(None, max_length=40, description="办结日期 YYYY-MM-DD 或 RFC 3339")
    note: str | None = Field(None, max_length=5000, description="备注")
    data: dict[str, Any] | None = Field(None, description="附加数据")
    reason: str | None = Field(None, max_length=2000, description="理由（如：不具备登记条件仍办结登记的理由）")


class InspectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: StageStatus = Field("done", description="本次监察的状态")
    case_no: str | None = Field(None, max_length=100, description="执法案件号")
    department: str | None = Field(None, max_length=100, description="执法支队等")
    started_at: str | None = Field(None, max_length=40)
    finished_at: str | None = Field(None, max_length=40)
    note: str | None = Field(None, max_length=5000, description="卫片执法、巡查发现等")
    data: dict[str, Any] | None = None


class StageRecordOut(BaseModel):
    id: int
    key: str
    status: str
    previous_status: str | None
    case_no: str | None
    department: str | None
    started_at: str | None
    finished_at: str | None
    note: str | None
    data: dict[str, Any]
    actor: str
    at: str


class FileOut(BaseModel):
    id: int
    name: str
    size: int
    sha256: str
    media_type: str


class ResultOut(BaseModel):
    id: int
    code: str
    stage: str
    kind: str
    doc_no: str | None
    issued_at: str | None
    issuer: str | None
    confidentiality: Literal["public", "internal", "restricted"]
    data: dict[str, Any]
    files: list[FileOut]
    created_by: str
    created_at: str


class ResultPage(BaseModel):
    items: list[ResultOut]
    next_cursor: str | None


class ChainOut(BaseModel):
    project: ProjectOut
    stages: list[StageOut]
    events: list[dict[str, Any]]
    results: list[ResultOut]
    parcels: dict[str, Any]
    refs: list[dict[str, str]] = Field(default_factory=list,
                                       description="交叉引用：投资项目代码、电子监管号、不动产单元号、证书号、案卷号")
    joint_reviews: list[dict[str, Any]] = Field(default_factory=list,
                                                description="联合审查（会签）：逐科室意见、期限与要件")
