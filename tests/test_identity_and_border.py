"""Anchors by identity, places mapped twice, no wall at the border, and which settlement a
service belongs to — whole-pipeline runs on small *synthetic* OSM files written here (see
tests/osm_builder.py; nothing is real OSM data). Region: 38.90–39.20 °E × 59.95–60.10 °N (as in
tests/test_synthetic_osm.py); at 60 °N 0.01° of longitude ≈ 558 m.
"""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd

from pipeline import stages
from tests.helpers.osm_builder import OsmBuilder
from tests.helpers.synthetic_region import new_region, prepare_region

TOWNS = 'rule = { places = ["town"] }'


def run(tmp_path, builder: OsmBuilder, anchor_section: str = TOWNS, **region):
    cfg, paths = prepare_region(
        tmp_path, builder, anchors=[], anchor_section=anchor_section, **region
    )
    for stage in (stages.run_extract, stages.run_network, stages.run_catchments):
        stage(cfg, paths)
    layers = {
        name: gpd.read_file(paths.gpkg(cfg.name), layer=name)
        for name in ("settlements", "anchors", "catchments")
    }
    layers["summary"] = json.loads(paths.summary_json.read_text(encoding="utf-8"))
    if (paths.gpkg(cfg.name)).is_file() and "services" in gpd.list_layers(paths.gpkg(cfg.name))[
        "name"
    ].tolist():
        layers["services"] = gpd.read_file(paths.gpkg(cfg.name), layer="services")
    return cfg, paths, layers


# --- two anchors of one name -------------------------------------------------------------------


def two_nikolskoe() -> OsmBuilder:
    b = new_region()
    b.admin_boundary((38.90, 59.95, 39.05, 60.10), admin_level=6, name="Западный")
    b.admin_boundary((39.05, 59.95, 39.20, 60.10), admin_level=6, name="Восточный")
    for lon, pops in ((38.95, (1000, 200, 300)), (39.15, (5000, 50, 70))):
        town = (lon, 60.02)
        b.road([town, (lon + 0.02, 60.02)], highway="tertiary")
        b.road([town, (lon - 0.02, 60.02)], highway="tertiary")
        b.place(*town, "Никольское", place="town", population=str(pops[0]))
        b.place(lon + 0.02, 60.02, f"Восточная {lon}", population=str(pops[1]))
        b.place(lon - 0.02, 60.02, f"Западная {lon}", population=str(pops[2]))
    return b


def test_two_anchors_of_one_name_stay_two(tmp_path):
    _, _, layers = run(tmp_path, two_nikolskoe())
    anchors = layers["anchors"].sort_values("anchor_id")
    assert anchors["name"].tolist() == ["Никольское", "Никольское"]
    assert set(anchors["label"]) == {"Никольское (Западный)", "Никольское (Восточный)"}
    served = anchors.set_index("district")
    # Each serves itself and its own two villages: never the other's people.
    assert served.loc["Западный", "settlements_served"] == 3
    assert served.loc["Западный", "population_served"] == 1500
    assert served.loc["Восточный", "population_served"] == 5120
    s = layers["settlements"].set_index("name")
    assert s.loc["Восточная 38.95", "anchor_id"] != s.loc["Восточная 39.15", "anchor_id"]
    assert s.loc["Восточная 39.15", "anchor_osm_id"] == served.loc["Восточный", "osm_id"]
    assert layers["catchments"]["anchor_id"].nunique() == 2


# --- a place mapped twice --------------------------------------------------------------------------


def test_a_place_node_inside_its_own_area_is_one_settlement(tmp_path):
    b = new_region()
    b.road([(39.00, 60.02), (39.05, 60.02)], highway="tertiary")
    b.place(39.00, 60.02, "Опоки", place="town")
    node = b.place(39.05, 60.02, "Сорнас")  # no population tag on the node …
    corners = [
        b.node(39.04, 60.015),
        b.node(39.06, 60.015),
        b.node(39.06, 60.025),
        b.node(39.04, 60.025),
    ]
    b.way(
        [*corners, corners[0]], place="village", name="Сорна\u0301с", population="120"
    )  # … the area has (and an accent)
    _, _, layers = run(tmp_path, b)
    s = layers["settlements"]
    assert len(s) == 2
    twin = s.set_index("name").loc["Сорнас"]
    assert twin["osm_type"] == "node" and twin["osm_id"] == node
    assert twin["population"] == 120


# --- no wall at the border ---------------------------------------------------------------------------

INSIDE_TOWN = (38.92, 60.02)
BORDER_VILLAGE = (39.19, 60.02)  # inside the region, ≈ 0.6 km from its eastern border
ACROSS_TOWN = (39.23, 60.02)  # ≈ 1.7 km beyond the border, within the clip buffer


def border_region() -> OsmBuilder:
    b = new_region()
    b.road([INSIDE_TOWN, BORDER_VILLAGE, ACROSS_TOWN], highway="secondary")
    b.place(*INSIDE_TOWN, "Внутренний", place="town")
    b.place(*BORDER_VILLAGE, "Пограничная", population="300")
    b.place(*ACROSS_TOWN, "Зарубежный", place="town")
    b.node(ACROSS_TOWN[0] + 0.001, ACROSS_TOWN[1], amenity="hospital", name="Больница")
    b.node(INSIDE_TOWN[0] + 0.001, INSIDE_TOWN[1], amenity="school", name="Школа")
    return b


def test_a_town_and_a_hospital_across_the_border_serve_the_region(tmp_path):
    _, _, layers = run(tmp_path, border_region())
    s = layers["settlements"].set_index("name")
    assert "Зарубежный" not in s.index  # not a settlement of the region …
    village = s.loc["Пограничная"]
    assert village["anchor_name"] == "Зарубежный"  # … but its nearest town serves it
    assert bool(village["anchor_beyond_border"])
    assert "hospital" in village["services_beyond_border"]
    assert village["time_hospital_min"] < 5
    anchors = layers["anchors"].set_index("name")
    assert not anchors.loc["Зарубежный", "in_region"] and anchors.loc["Внутренний", "in_region"]
    total = layers["summary"]["region_total"]
    assert total["settlements_anchor_beyond_border"] == 1
    assert total["settlements_hospital_beyond_border"] == 2  # both settlements' only hospital


def test_anchors_beyond_the_border_can_be_left_out(tmp_path):
    _, _, layers = run(tmp_path, border_region(), anchor_section=TOWNS + "\nbeyond_border = false")
    s = layers["settlements"].set_index("name")
    assert s.loc["Пограничная", "anchor_name"] == "Внутренний"
    assert not bool(s.loc["Пограничная", "anchor_beyond_border"])
    assert "Зарубежный" not in set(layers["anchors"]["name"])
    # Services still cross the border.
    assert "hospital" in s.loc["Пограничная", "services_beyond_border"]


# --- which settlement a service belongs to -----------------------------------------------------------

TOWN = (39.00, 60.02)
HAMLET = (39.03, 60.02)  # ≈ 1.67 km east of the town's centre
HOSPITAL = (39.028, 60.02)  # on the town's edge, ≈ 110 m from the hamlet, ≈ 1.56 km from the centre


def test_a_hospital_on_a_towns_edge_is_the_towns_not_the_hamlets(tmp_path):
    b = new_region()
    b.road([TOWN, HAMLET], highway="tertiary")
    b.place(*TOWN, "Городок", place="town")
    b.place(*HAMLET, "Хутор", place="hamlet")
    b.node(*HOSPITAL, amenity="hospital")
    b.node(TOWN[0] + 0.0005, TOWN[1], amenity="atm")  # a cash machine is not a bank branch
    _, _, layers = run(tmp_path, b)
    services = layers["services"]
    hospital = services[services["service"] == "hospital"].iloc[0]
    assert hospital["settlement_name"] == "Городок"
    assert hospital["settlement_osm_type"] == "node"
    assert "bank" not in set(services["service"])
    town = layers["anchors"].set_index("name").loc["Городок"]
    assert bool(town["has_hospital"]) and not bool(town["has_bank"])


def test_a_service_inside_a_settlements_area_is_that_settlements(tmp_path):
    b = new_region()
    b.road([TOWN, HAMLET], highway="tertiary")
    b.place(*TOWN, "Городок", place="town")
    corners = [
        b.node(39.025, 60.015),
        b.node(39.04, 60.015),
        b.node(39.04, 60.025),
        b.node(39.025, 60.025),
    ]
    b.way([*corners, corners[0]], place="hamlet", name="Хутор")
    b.node(*HOSPITAL, amenity="hospital")
    _, _, layers = run(tmp_path, b)
    services = layers["services"]
    assert services.loc[services["service"] == "hospital", "settlement_name"].iloc[0] == "Хутор"
    assert pd.notna(services["link_distance_m"]).all()
