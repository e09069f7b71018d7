"""The Chinese import templates: ordered headers, a note per header, and which code table feeds a drop-down."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TemplateField:
    header: str
    note: str
    table: str | None = None
    required: bool = False


TEMPLATES: dict[str, list[TemplateField]] = {
    "supply_plan": [
        TemplateField("项目名称", "项目或地块名称，与其他清单一致便于自动合并", required=True),
        TemplateField("行政区划", "从下拉列表选择区县（也可填 6 位代码）", "division", True),
        TemplateField("功能区", "如属经开区、高新区、柳叶湖、西湖、西洞庭、桃花源等功能区，从下拉列表选择；行政区划填其所在区县", "zone"),
        TemplateField("年度", "计划年度，四位数字，如 2026"),
        TemplateField("供地方式", "划拨、招标/拍卖/挂牌/协议出让等；方式未定可填“出让”", "supply_type"),
        TemplateField("土地用途", "2023版用地用海分类二级类（自然资发〔2023〕234号）；如用 GB/T 21010 分类，请把表头改为“土地用途(GB/T 21010)”，"
                                  "混合用途须确定一个主用途", "land_use"),
        TemplateField("面积（公顷）", "计划供应面积，单位公顷"),
        TemplateField("拟供地时间", "日期，如 2026-06 或 2026-06-30"),
        TemplateField("投资项目代码", "如有：24 位投资项目代码（GB/T 40058-2021），如 2611-430702-04-01-342068"),
        TemplateField("位置", "坐落或四至"),
    ],
    "reserve_plan": [
        TemplateField("项目名称", "储备地块名称", required=True),
        TemplateField("行政区划", "从下拉列表选择区县", "division", True),
        TemplateField("年度", "计划年度"),
        TemplateField("储备面积（公顷）", "单位公顷"),
        TemplateField("拟收储时间", "日期，如 2026-03"),
        TemplateField("规划用途", "2023版用地用海分类二级类", "land_use"),
        TemplateField("位置", "坐落或四至"),
    ],
    "key_projects": [
        TemplateField("项目名称", "重点项目名称", required=True),
        TemplateField("级别", "国家、省 或 市", "level"),
        TemplateField("行政区划", "从下拉列表选择区县", "division", True),
        TemplateField("功能区", "如属功能区，从下拉列表选择", "zone"),
        TemplateField("建设单位", "项目建设单位全称"),
        TemplateField("投资项目代码", "24 位投资项目代码（GB/T 40058-2021）"),
        TemplateField("总投资（万元）", "单位万元"),
        TemplateField("建设内容", "主要建设内容与规模"),
        TemplateField("年度", "列入重点项目的年度"),
    ],
    "investment_platform": [
        TemplateField("项目代码", "投资项目代码（GB/T 40058-2021，24 位）", required=True),
        TemplateField("项目名称", "项目名称", required=True),
        TemplateField("建设单位", "项目单位"),
        TemplateField("行政区划", "项目所在区县", "division", True),
        TemplateField("审批类型", "审批、核准 或 备案", "approval_type"),
        TemplateField("用地面积（平方米）", "单位平方米"),
        TemplateField("立项日期", "日期"),
    ],
}
LEVEL_CHOICES = ["国家", "省", "市"]
