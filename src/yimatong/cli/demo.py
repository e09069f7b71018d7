"""`ymt demo`: a realistic demo library — projects in every stage, parcels in every district, results,
warnings — plus a web login `demo` / `yimatong-2026` and an admin API token `demo-admin` (rotated on every run:
the new secret is printed, the previous one stops)."""

from __future__ import annotations

import datetime as dt
import functools
import io
import random
import re
from typing import Any

import typer
from shapely.geometry import box
from sqlalchemy import select

from yimatong.accounts import tokens, users
from yimatong.accounts.passwords import PasswordPolicy
from yimatong.accounts.tokens import TokenLimits
from yimatong.cli.common import service
from yimatong.core.context import Actor, App, local_today
from yimatong.parcels import spatial as spatial_checks
from yimatong.parcels import store as parcels
from yimatong.projects import registry
from yimatong.results import service as results
from yimatong.stages import service as stages
from yimatong.storage.models import ApiToken, ProjectSource, User
from yimatong.uow import UnitOfWork
from yimatong.uow import run as uow_run

ACTOR = Actor("demo-loader", "admin")
NAMES = ["{d}滨湖片区安置小区", "{d}高新区标准厂房", "{d}第一中学扩建", "{d}人民医院新院区", "{d}城东商业综合体",
         "{d}物流园仓储用地", "{d}老旧小区改造", "{d}污水处理厂提标", "{d}公园绿地", "{d}保障性租赁住房"]
# (project_type, supply_type, land_use) per name above
ATTRS = [("07", "10", "0701"), ("01", "23", "1001"), ("04", "10", "0804"), ("04", "10", "0806"), ("02", "22", "0901"),
         ("01", "23", "1101"), ("06", "24", "0701"), ("03", "10", "1302"), ("03", "10", "1401"), ("07", "10", "0701")]
DEMO_USER, DEMO_PASSWORD = "demo", "yimatong-2026"  # published with the demo: never on a real installation
DEMO_TOKEN = "demo-admin"
OLD_DEMO_TOKEN = re.compile(r"^demo-admin-\d{4}$")  # one more of these was added by every earlier run
PATH = ["pre_review", "land_approval", "supply", "land_use_permit", "works_permit", "construction", "verification",
        "registration"]


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(per_district: int = typer.Option(6, "--per-district", help="每个区县的项目数")) -> None:
    """载入演示数据（可重复执行：已载入时不重复）。"""
    with service(migrate=True, create=True) as ymt:
        with ymt.db.read() as session:
            loaded = session.execute(select(ProjectSource.id).where(ProjectSource.ref == "demo")).first()
        if loaded:
            typer.echo("演示数据已存在，未重复载入")
        else:
            n = load(ymt, per_district)
            typer.echo(f"已载入演示数据：{n} 个项目")
        with ymt.db.write() as session:
            if session.execute(select(User.id).where(User.username == DEMO_USER)).first() is None:
                users.create(session, DEMO_USER, DEMO_PASSWORD, "admin", "演示管理员",
                             policy=PasswordPolicy.of(ymt.settings), must_change_password=False, created_by="demo")
            token = demo_token(session, TokenLimits.of_app(ymt))
    typer.echo(f"网页登录：{DEMO_USER} / {DEMO_PASSWORD}", err=True)
    typer.echo(f"管理员 API 令牌 {DEMO_TOKEN}（每次运行轮换，之前的令牌随即失效）：", err=True)
    typer.echo(token)


def demo_token(session: Any, limits: TokenLimits) -> str:
    """The demo's one admin token: rotated when it exists (a new secret, the old one stops), else created;
    the randomly named ones earlier runs left behind are revoked."""
    for name in session.execute(select(ApiToken.name).where(ApiToken.revoked_at.is_(None))).scalars().all():
        if OLD_DEMO_TOKEN.match(name):
            tokens.revoke(session, name)
    if tokens.get(session, DEMO_TOKEN) is not None:
        return tokens.rotate(session, DEMO_TOKEN)
    return tokens.create(session, DEMO_TOKEN, "admin", owner="demo", limits=limits)


def load(app: App, per_district: int) -> int:
    rng = random.Random(20261124)
    today = local_today(app.profile)
    divisions = [e for e in app.profile.tables["division"] if not e.internal]  # the districts with a boundary
    count = 0
    for d in divisions:
        center = _center(app, d.value)
        for i in range(per_district):
            uow_run(app, ACTOR, functools.partial(_one, rng=rng, today=today, division=d.value, label=d.label, i=i,
                                                  center=center))
            count += 1
    return count


def _center(app: App, division: str) -> tuple[float, float]:
    shape = spatial_checks.division_shape(app, division)
    if shape is None:
        return (111.69, 29.04)
    p = shape.representative_point()
    return (p.x, p.y)


def _one(uow: UnitOfWork, rng: random.Random, today: dt.date, division: str, label: str, i: int,
         center: tuple[float, float]) -> None:
    k = (i + int(division[-2:])) % len(NAMES)
    ptype, stype, use = ATTRS[k]
    project = registry.register(uow, {
        "name": NAMES[k].format(d=label), "division": division, "year": today.year - rng.randint(0, 3),
        "approval_type": rng.choice(["01", "02", "03"]), "project_type": ptype, "supply_type": stype,
        "land_use": use, "builder": f"{label}城市建设投资有限公司", "area_m2": None,
        "sources": [{"kind": rng.choice(["supply_plan", "reserve_plan", "city_key", "investment_platform"]),
                     "ref": "demo"}]})
    x, y = center[0] + (i % 3) * 0.006, center[1] + (i // 3) * 0.006
    w, h = rng.uniform(0.0015, 0.004), rng.uniform(0.0015, 0.004)
    parcel = parcels.attach(uow, project, box(x, y, x + w, y + h), {"parcel_no": f"DK-{division}-{i + 1:03d}"})
    registry.update(uow, project.code, {"area_m2": parcel.area_m2}, project)  # through the ledger
    depth = (i * 3 + int(division[-1])) % (len(PATH) + 1)
    _walk(uow, rng, today, project.code, depth, i)


def _walk(uow: UnitOfWork, rng: random.Random, today: dt.date, code: str, depth: int, i: int) -> None:
    """Move the project along the lifecycle with dates in the past, so that some of them draw warnings."""
    start = today - dt.timedelta(days=rng.randint(400, 1400))
    day = start
    for n, key in enumerate(PATH[:depth]):
        day = day + dt.timedelta(days=rng.randint(30, 160))
        if key == "land_approval" and depth == 2 and i % 2 == 0:
            day = today - dt.timedelta(days=900)  # approved long ago, never supplied: 批而未供
        stages.set_stage(uow, code, key, {
            "status": "done", "case_no": f"{key.upper()[:3]}-{today.year}-{rng.randint(100, 999)}",
            "department": "一体化审批", "started_at": (day - dt.timedelta(days=20)).isoformat(),
            "finished_at": min(day, today).isoformat()})
        _result(uow, code, key, day, today, i)
        if n == depth - 1 and depth < len(PATH) and i % 4 == 1:
            stages.set_stage(uow, code, PATH[depth], {"status": "in_progress"})
    if i % 5 == 0:
        stages.add_inspection(uow, code, {"department": "执法支队", "note": "卫片执法核查：未发现违法用地",
                                                          "finished_at": today.isoformat()})


KINDS = {"pre_review": "用地预审与选址意见书", "land_approval": "建设用地批复", "supply": "国有建设用地使用权出让合同",
         "land_use_permit": "建设用地规划许可证", "works_permit": "建设工程规划许可证", "construction": "开工竣工报告",
         "verification": "规划核实意见书", "registration": "不动产权证书"}


def _result(uow: UnitOfWork, code: str, key: str, day: dt.date, today: dt.date, i: int) -> None:
    data: dict[str, Any] = {}
    if key == "supply":
        late = 600 if i % 3 == 0 else 900 if i % 3 == 1 else -200
        data = {"supervision_no": f"{code[2:8]}{today.year}B{i:05d}",  # 电子监管号: the project's county
                "agreed_start": (today - dt.timedelta(days=late)).isoformat(),
                "agreed_finish": (today - dt.timedelta(days=late - 730)).isoformat()}
    if key == "registration":
        data = {"unit_no": f"430702001001GB{i:05d}F00010001", "certificate_no": f"{today.year}{i:04d}"}
    text = f"{KINDS[key]}\n项目码：{code}\n日期：{day}\n（演示文件）\n".encode()
    sha, size, head = uow.app.blobs.put(io.BytesIO(text), uow.app.settings.max_upload_bytes)
    meta: dict[str, Any] = {"stage": key, "kind": KINDS[key], "doc_no": f"常{key[:2]}〔{day.year}〕{i + 1}号",
            "issued_at": day.isoformat(), "issuer": "常德市自然资源和规划局",
            "confidentiality": "public" if key in ("pre_review", "registration") else "internal",
            "data": data, "parcels": []}
    results.add(uow, code, meta, [{"name": f"{KINDS[key]}.txt", "sha256": sha, "size": size,
                                                    "media_type": results.sniff(head, "x.txt")}])
