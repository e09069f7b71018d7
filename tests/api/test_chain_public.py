"""The one-code query, the QR codes and the public page opened by scanning them."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image

from api.helpers import add_result, put_stage, register


def test_chain_has_events_in_order_stages_results(client, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    put_stage(client, registrar_headers, code, "pre_review")
    add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "意见书", "confidentiality": "public"})
    chain = client.get(f"/api/v1/projects/{code}/chain", headers=registrar_headers).json()
    assert chain["project"]["code"] == code
    seqs = [e["seq"] for e in chain["events"]]
    assert seqs == sorted(seqs) and [e["type"] for e in chain["events"]] == [
        "project.registered", "stage.changed", "result.added"]
    assert chain["events"][1]["prev_hash"] == chain["events"][0]["hash"] or chain["events"][1]["seq"] > \
        chain["events"][0]["seq"] + 1
    assert chain["results"][0]["kind"] == "意见书"
    assert chain["parcels"] == {"type": "FeatureCollection", "features": []}
    assert len(chain["stages"]) == 12


def test_qr_encodes_the_public_page_and_public_page_shows_public_fields_only(client, registrar_headers) -> None:
    p = register(client, registrar_headers, builder="常德城投")
    code = p["code"]
    add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "公示批复", "confidentiality": "public"})
    add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "内部审查意见"})
    svg = client.get(f"/api/v1/projects/{code}/qr.svg", headers=registrar_headers)
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    png = client.get(f"/p/{code}/qr.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert [d.text for d in decoded] == [f"http://testserver/p/{code}"]
    page = client.get(f"/p/{code}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert code in page.text and "常德城投" in page.text and "公示批复" in page.text
    assert "内部审查意见" not in page.text
    assert 'name="viewport"' in page.text and "http" not in page.text.split("<body>")[1].replace(
        f"/p/{code}", "")  # no external assets
    missing = client.get("/p/CD43070220260102230701999999")
    assert missing.status_code == 404 and "未找到" in missing.text
    assert client.get("/api/v1/projects/CD43070220260102230701999999/qr.svg",
                      headers=registrar_headers).status_code == 404
