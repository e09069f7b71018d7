"""Derived rows take the confidentiality of their result: a parcel submitted with a restricted result, its
`parcel.attached` event, and the references copied from its data are hidden wherever the result is hidden —
in the chain, the parcel list (by bbox and by code), one parcel, the project box (by point and by parcel), OGC
items, items by id, project geometry and the collection extent, the change feed, webhook fan-out and search."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from api.helpers import add_result, register
from conftest import make_token
from spatial.spatial_helpers import square
from yimatong.storage.models import Delivery, Event

ROLES = ("admin", "registrar", "approval_system", "registration_platform", "base_platform", "viewer")
SEES = {"admin", "registrar", "approval_system"}  # the privileged roles and the role that added it
SECRET = (111.95, 29.30)  # a corner of the city no other parcel of the test touches
UNIT_NO = "430702001001GB00001F00010001"


@pytest.fixture
def world(client, ymt):  # type: ignore[no-untyped-def]
    h = {role: {"Authorization": f"Bearer {make_token(ymt, role)}"} for role in ROLES}
    subs = {}
    for role in ("viewer", "approval_system"):
        r = client.post("/api/v1/subscriptions", headers=h["admin"], json={
            "url": "http://192.0.2.10/hook", "types": [], "secret": "s" * 20, "role": role})
        assert r.status_code == 201, r.text
        subs[role] = r.json()["id"]
    code = register(client, h["registrar"], name="受限地块项目")["code"]
    r = add_result(client, h["approval_system"], code, {
        "stage": "pre_review", "kind": "踏勘记录", "confidentiality": "restricted",
        "data": {"unit_no": UNIT_NO, "certificate_no": "湘(2026)常德市不动产权第0000001号"},
        "parcels": [square(SECRET, name="甲号秘密地块")]})
    assert r.status_code == 201, r.text
    with ymt.db.read() as session:
        parcel_id = json.loads(session.execute(select(Event.data).where(Event.type == "parcel.attached")
                                               ).scalar_one())["parcel_id"]
    return {"h": h, "code": code, "parcel_id": parcel_id, "subs": subs}


@pytest.mark.parametrize("role", ROLES)
def test_restricted_parcels_and_refs_follow_their_result(client, world, role) -> None:
    h, code, pid = world["h"][role], world["code"], world["parcel_id"]
    sees = role in SEES
    lon, lat = SECRET
    bbox = f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"

    chain = client.get(f"/api/v1/projects/{code}/chain", headers=h).json()
    assert (len(chain["parcels"]["features"]) == 1) is sees
    assert (UNIT_NO in [r["value"] for r in chain["refs"]]) is sees
    assert ("parcel.attached" in [e["type"] for e in chain["events"]]) is sees

    by_box = client.get("/api/v1/parcels", params={"bbox": bbox}, headers=h).json()["features"]
    by_code = client.get("/api/v1/parcels", params={"code": code}, headers=h).json()["features"]
    assert (len(by_box) == 1) is sees and (len(by_code) == 1) is sees
    assert client.get(f"/api/v1/parcels/{pid}", headers=h).status_code == (200 if sees else 404)
    assert client.get("/api/v1/project-box", params={"lon": lon, "lat": lat}, headers=h).status_code == \
        (200 if sees else 404)
    assert client.get(f"/api/v1/parcels/{pid}/box", headers=h).status_code == (200 if sees else 404)

    items = client.get("/ogc/collections/parcels/items", params={"bbox": bbox}, headers=h).json()
    assert (items["numberMatched"] == 1) is sees
    assert client.get(f"/ogc/collections/parcels/items/{pid}", headers=h).status_code == (200 if sees else 404)
    project = client.get(f"/ogc/collections/projects/items/{code}", headers=h).json()
    assert (project["geometry"] is not None) is sees
    extent = client.get("/ogc/collections/parcels", headers=h).json()["extent"]["spatial"]["bbox"][0]
    # the project has no other parcel: only a seer's extent is the secret parcel's box, the others' the world's
    assert (extent[2] == pytest.approx(lon + 0.001)) is sees

    feed = client.get("/api/v1/events", params={"limit": 1000}, headers=h).json()["items"]
    assert ("parcel.attached" in [e["type"] for e in feed]) is sees

    found = client.get("/api/v1/projects", params={"q": UNIT_NO}, headers=h).json()["items"]
    assert ([p["code"] for p in found] == [code]) is sees


def test_webhook_fan_out_follows_the_result(world, ymt) -> None:
    with ymt.db.read() as session:
        attached = session.execute(select(Event.seq).where(Event.type == "parcel.attached")).scalar_one()
        to = {sid for (sid,) in session.execute(select(Delivery.subscription_id).where(Delivery.seq == attached))}
    assert world["subs"]["approval_system"] in to and world["subs"]["viewer"] not in to


def test_public_page_shows_no_restricted_parcel_or_number(client, world) -> None:
    page = client.get(f"/p/{world['code']}").text
    assert UNIT_NO not in page and "甲号秘密地块" not in page
