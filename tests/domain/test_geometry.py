"""Geometry core: CRS detection, areas in the right zone, validation and safe repair."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import Polygon, box, mapping

from yimatong.domain import geometry as g

GEOD = Geod(ellps="GRS80")


def test_zone_detection_and_areas() -> None:
    assert g.gk_zone_for_lon(111.7) == 37
    assert g.zone_epsg(37, prefixed=True) == 4525 and g.zone_epsg(37, prefixed=False) == 4546
    assert g.detect_crs((37567207.8, 3213899.2)) == 4525
    assert g.detect_crs((111.7, 29.0)) == 4490
    with pytest.raises(g.GeometryError, match="crs"):
        g.detect_crs((567207.8, 3213899.2))
    assert g.detect_crs((567207.8, 3213899.2), zone_hint=37) == 4546
    with pytest.raises(g.GeometryError):
        g.detect_crs((1, 1), declared=3857)


def test_area_agrees_with_geodesic_area_within_one_percent() -> None:
    parcel = box(111.69, 29.03, 111.70, 29.04)
    geodesic = abs(GEOD.geometry_area_perimeter(parcel)[0])
    assert g.area_m2(parcel) == pytest.approx(geodesic, rel=0.01)
    a = g.areas(parcel)
    assert a["area_mu"] == pytest.approx(a["area_m2"] / 666.6667, rel=1e-4)
    assert a["area_ha"] == pytest.approx(a["area_m2"] / 10000, rel=1e-4)


@settings(max_examples=60)
@given(st.floats(110.5, 112.2), st.floats(28.4, 30.1), st.floats(50, 2000), st.floats(50, 2000))
def test_projected_round_trip_keeps_position_and_area(lon: float, lat: float, w: float, h: float) -> None:
    zone = g.zone_epsg(g.gk_zone_for_lon(lon), prefixed=True)
    center = g.from_storage(Polygon([(lon, lat), (lon + 1e-6, lat), (lon, lat + 1e-6)]), zone).centroid
    rect = box(center.x, center.y, center.x + w, center.y + h)
    stored = g.to_storage(rect, zone)
    back = g.from_storage(stored, zone)
    assert back.area == pytest.approx(rect.area, rel=1e-6)
    assert g.area_m2(stored) == pytest.approx(w * h, rel=0.001)
    assert abs(stored.bounds[0] - lon) < 1e-3


def test_feature_in_zone_coordinates_is_stored_in_4490() -> None:
    feat = {"type": "Feature", "properties": {}, "geometry": mapping(box(37567207.8, 3213899.2, 37567327.8,
                                                                        3213989.2))}
    geom = g.feature_to_geometry(feat, "parcels.0.geometry")
    assert 111 < geom.centroid.x < 112 and 29 < geom.centroid.y < 30
    assert g.area_m2(geom) == pytest.approx(120 * 90, rel=0.001)


@pytest.mark.parametrize(("feature", "needle"), [
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [111.7, 29.0]}}, "Polygon"),
    ({"type": "Feature", "geometry": None}, "geometry"),
    ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[1, 2]]]}}, "坐标"),
    ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": "x"}}, "坐标"),
    ({"type": "Feature", "geometry": mapping(box(29.0, 111.6, 29.1, 111.7))}, "经纬度"),
    ("nope", "Feature"),
])
def test_bad_features_name_the_field(feature, needle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(g.GeometryError) as exc:
        g.feature_to_geometry(feature, "parcels.3.geometry")
    assert exc.value.field in ("parcels.3.geometry", "crs")
    assert needle in exc.value.message


def test_small_self_intersection_is_repaired_large_bow_tie_refused() -> None:
    # a ring with a duplicated vertex and wrong orientation: valid after orientation, same area
    ok = Polygon([(111.70, 29.00), (111.70, 29.01), (111.71, 29.01), (111.71, 29.01), (111.71, 29.00)])
    assert g.validate_polygon(ok).area == pytest.approx(ok.area)
    spike = Polygon([(111.70, 29.00), (111.71, 29.00), (111.71, 29.01), (111.705, 29.01), (111.7051, 29.0101),
                     (111.7049, 29.0101), (111.705, 29.01), (111.70, 29.01)])
    fixed = g.validate_polygon(spike)
    assert fixed.is_valid and fixed.area == pytest.approx(0.0001, rel=0.01)
    bow_tie = Polygon([(111.70, 29.00), (111.71, 29.01), (111.71, 29.00), (111.70, 29.01)])
    with pytest.raises(g.GeometryError, match="无效"):
        g.validate_polygon(bow_tie, "parcels.0.geometry")


@settings(max_examples=50)
@given(st.floats(110.5, 112.2), st.floats(28.4, 30.1), st.floats(0.0002, 0.02), st.floats(0.0002, 0.02))
def test_approximate_area_is_within_half_a_percent(lon: float, lat: float, w: float, h: float) -> None:
    parcel = box(lon, lat, lon + w, lat + h)
    assert g.approx_area_m2(parcel) == pytest.approx(g.area_m2(parcel), rel=0.005)
