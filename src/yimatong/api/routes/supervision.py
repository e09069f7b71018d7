"""Supervision (监测监管): warnings and statistics."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from yimatong.api.deps import get_app, requires
from yimatong.api.routes import audit as audit_routes
from yimatong.api.schemas import responses
from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain.policy import Action
from yimatong.supervision import service as supervision

router = APIRouter(prefix="/api/v1", tags=["监测监管 Supervision"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/warnings", responses=responses(401, 422), summary="预警清单",
            description="由数据计算的预警：批而未供 approved_not_supplied（含面积 area_m2）、闲置土地 idle_land（国土资源部令"
                        "第53号 第二条两种情形；一级：征缴闲置费，二级：无偿收回；认定前为疑似闲置，政府原因除外）、供而未用 "
                        "idle_land_pre、竣工逾期、登记滞后、建而未验 built_not_verified、未供先建 built_before_supply、未批先建 "
                        "built_before_permit、占补平衡 compensation_missing、预审过期 pre_review_expired、码段过期、空间冲突。"
                        "每项含 kind、level、code、since、detail（写明规则与依据）、area_m2。“今天”按本地日期计。")
def warnings(kind: str | None = Query(None), division: str | None = Query(None, max_length=12),
             limit: int = Query(50, ge=1, le=1000), cursor: str | None = Query(None),
             app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        return supervision.page(session, app, View.of(app, actor), kind, division, limit, cursor)


@router.get("/warnings.xlsx", responses=responses(401, 422) | {200: {"content": {XLSX: {}},
                                                                     "description": "预警清单 Excel"}},
            summary="导出预警清单（Excel）", response_class=Response)
def warnings_xlsx(request: Request, kind: str | None = Query(None),
                  division: str | None = Query(None, max_length=12),
                  app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))) -> Response:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warnings.xlsx"
        supervision.export_warnings(app, View.of(app, actor), path, kind, division)
        data = path.read_bytes()
    audit_routes.record(app, request, actor, "export.warnings", f"warnings.xlsx?{request.url.query}")
    return Response(data, media_type=XLSX, headers={
        "Content-Disposition": "attachment; filename=\"warnings.xlsx\"; filename*=UTF-8''%E9%A2%84%E8%AD%A6.xlsx"})


@router.get("/stats", responses=responses(401, 422), summary="统计",
            description="按行政区划、当前阶段、年度、供地类型或功能区统计有效项目的数量与面积；group_by=approved_not_supplied "
                        "给出批而未供存量按批准年限（2年以内、2–5年、5年以上）的数量与面积。")
def stats(group_by: str = Query("division", description="division、stage、year、supply_type、zone、approved_not_supplied"),
          app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        return supervision.stats(session, app, View.of(app, actor), group_by)
