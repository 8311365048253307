"""The benchmark's synthetic-region generator: deterministic, realistic, and readable by the pipeline."""

from __future__ import annotations

import re

import numpy as np
import osmium
import pytest

from bench.generator import SIZES, generate
from pipeline.config import load_region
from pipeline.network.graph import driveable


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    return out, generate("tiny", out, seed=7)


def test_same_seed_gives_byte_identical_pbf(tiny, tmp_path):
    out, _ = tiny
    again = generate("tiny", tmp_path, seed=7)
    assert again["road_nodes"] == tiny[1]["road_nodes"]
    assert (tmp_path / "synth-tiny.osm.pbf").read_bytes() == (
        out / "synth-tiny.osm.pbf"
    ).read_bytes()
    other = tmp_path / "other"
    generate("tiny", other, seed=8)
    assert (other / "synth-tiny.osm.pbf").read_bytes() != (out / "synth-tiny.osm.pbf").read_bytes()


def test_stats_hit_the_size_targets(tiny):
    _, stats = tiny
    spec = SIZES["tiny"]
    assert stats["settlements"] == spec.settlements
    assert 0.8 * spec.road_nodes <= stats["road_nodes"] <= 1.2 * spec.road_nodes
    classes = stats["ways_by_highway"]
    for highway in ("primary", "tertiary", "unclassified", "residential", "track", "ferry"):
        assert highway in classes, highway
    assert stats["oneway_ways"] > 0
    assert stats["villages_off_road"] >= 2
    low, high = stats["off_road_km_min_max"]
    assert low >= 3.0 and high <= 10.5  # villages 3–10 km from any road (plus the place offset)


def _read(path):
    nodes, ways, relations = {}, [], []
    for obj in osmium.FileProcessor(str(path)):
        if obj.is_node() and len(obj.tags):
            nodes[obj.id] = dict(obj.tags)
        elif obj.is_way():
            ways.append(dict(obj.tags))
        elif obj.is_relation():
            relations.append((dict(obj.tags), [(m.type, m.ref, m.role) for m in obj.members]))
    return nodes, ways, relations


def test_tags_are_realistic_and_names_cyrillic(tiny):
    out, _ = tiny
    nodes, ways, relations = _read(out / "synth-tiny.osm.pbf")
    places = [t for t in nodes.values() if "place" in t]
    assert {t["place"] for t in places} >= {"city", "town", "village", "hamlet"}
    assert all(re.fullmatch(r"[А-ЯЁ][а-яёА-ЯЁ -]+", t["name"]) for t in places)
    assert any("population" not in t for t in places)  # some untagged, as in OSM
    ferries = [w for w in ways if w.get("route") == "ferry"]
    assert ferries and all("duration" in w for w in ferries)
    tracks = [w for w in ways if w.get("highway") == "track" and "ice_road" not in w]
    assert all("tracktype" in w for w in tracks)
    assert any(w.get("ice_road") == "yes" for w in ways)
    levels = sorted(t["admin_level"] for t, _ in relations)
    assert levels == ["4", *["6"] * (len(relations) - 1)]
    centres = [m for _, members in relations for m in members if m[2] == "admin_centre"]
    assert centres and all(nodes[ref]["place"] in {"city", "town"} for _, ref, _ in centres)


def test_region_file_is_valid_and_names_its_towns(tiny):
    out, _ = tiny
    cfg = load_region(config=out / "synth-tiny.toml")
    nodes, _, _ = _read(out / "synth-tiny.osm.pbf")
    towns = {t["name"] for t in nodes.values() if t.get("place") in {"city", "town"}}
    assert set(cfg.anchors.names) == towns
    assert set(cfg.cores.names) <= towns
    assert cfg.boundary.relation_id == 1 and cfg.crs


def test_ferries_and_roads_are_driveable_ice_roads_flagged(tiny):
    import pandas as pd

    out, _ = tiny
    _, ways, _ = _read(out / "synth-tiny.osm.pbf")
    table = pd.DataFrame(ways)
    for col in ("highway", "access", "motor_vehicle", "motorcar", "winter_road", "ice_road"):
        if col not in table:
            table[col] = None
    table["ferry"] = table["route"].eq("ferry")
    ok = driveable(table, load_region(config=out / "synth-tiny.toml").network)
    roads = table["highway"].notna() | table["ferry"]
    assert np.array_equal(ok, roads.to_numpy())  # every road and ferry the generator writes
    ice = table["ice_road"].eq("yes")
    assert ice.any() and table.loc[ice, "winter_road"].eq("yes").all()  # closed in summer
