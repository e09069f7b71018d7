"""The one-pass spatial screening (vectorised, used by supervision) against a plain pairwise oracle on random
parcels: the same overlaps, the same parcels outside their district, the same control-layer hits."""

from __future__ import annotations

import json
import random

from shapely.geometry import box, mapping

from conftest import project_body
from yimatong.core.context import Actor, App
from yimatong.domain import geometry as geo
from yimatong.parcels import files as parcel_import
from yimatong.parcels import spatial as spatial_checks
from yimatong.parcels import store as parcels
from yimatong.projects import registry
from yimatong.uow import transaction

ACTOR = Actor("oracle", "admin")


def test_one_pass_matches_pairwise_oracle(ymt: App) -> None:
    rng = random.Random(20261125)
    body = {k: v for k, v in project_body().items() if k != "parcels"}
    placed = []  # (project code, project id, parcel id, geometry, division)
    with transaction(ymt, ACTOR) as uow:
        for p in range(25):
            division = rng.choice(["430702", "430703"])  # parcels fall near the 武陵/鼎城 line, some across
            project = registry.register(uow, body | {"name": f"随机项目{p}", "division": division})
            cx, cy = 111.66 + rng.random() * 0.06, 28.99 + rng.random() * 0.06
            for _ in range(rng.randint(1, 3)):  # a project's parcels lie together and often touch each other
                x, y = cx + rng.random() * 0.004, cy + rng.random() * 0.004
                g = box(x, y, x + rng.uniform(0.001, 0.006), y + rng.uniform(0.001, 0.006))
                parcel = parcels.attach(uow, project, g)
                placed.append((project.code, project.id, parcel.id, g, division))
        voided = placed[0][0]
        registry.void(uow, voided, "测试")  # a voided project's parcels count for nothing
    farmland = box(111.67, 29.00, 111.69, 29.02)
    layer = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "基本农田一"}, "geometry": mapping(farmland)}]}).encode()
    parcel_import.import_control_layer(ymt, ACTOR, layer, "农田.geojson", "basic_farmland")

    with ymt.db.read() as session:
        got = spatial_checks.all_issues(session, ymt)
    tolerance = ymt.profile.supervision.overlap_tolerance_m2
    active = [p for p in placed if p[0] != voided]
    expected = set()
    for _code, pid, parcel_id, g, division in active:
        area = spatial_checks.division_shape(ymt, division)
        if area is not None and not area.contains(g) and g.difference(area).area / g.area > spatial_checks.OUTSIDE_TOLERANCE:
            expected.add(("outside_division", parcel_id, None))
        for _, other_pid, other_parcel, h, _ in active:
            if other_pid != pid and other_parcel != parcel_id and g.intersects(h) \
                    and geo.approx_area_m2(g.intersection(h)) > tolerance:
                expected.add(("overlap", parcel_id, other_parcel))
        if g.intersects(farmland) and geo.approx_area_m2(g.intersection(farmland)) > tolerance:
            expected.add(("control_layer", parcel_id, "basic_farmland"))
    actual = {(i["kind"], i["parcel_id"], i.get("other_parcel_id") if i["kind"] == "overlap" else i.get("layer"))
              for i in got}
    assert {k for k, *_ in expected} == {"outside_division", "overlap", "control_layer"}  # the data exercises all
    assert actual == expected
    assert len(got) == len(actual)  # no issue reported twice
    order = [i["parcel_id"] for i in got if i["kind"] != "control_layer"]
    assert order == sorted(order)  # parcel by parcel, in id order
