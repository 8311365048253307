"""Region files are validated at the door: every mistake names the field, the value and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import DEFAULT_SPEEDS_KPH, available_regions, load_region
from pipeline.errors import ConfigError

MINIMAL = """
name = "{name}"
display_name = "Test"
[anchors]
names = ["A"]
"""


def _write(tmp_path: Path, body: str, name: str = "testland") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(body.replace("{name}", name), encoding="utf-8")
    return path


def test_shipped_regions_are_valid():
    assert {"andorra", "vologda"} <= set(available_regions())
    for name in available_regions():
        cfg = load_region(name)
        assert cfg.name == name
        assert cfg.thresholds.gap_min > 0


def test_defaults_fill_in(tmp_path):
    cfg = load_region(config=_write(tmp_path, MINIMAL))
    assert cfg.thresholds.bands_min == [15, 30, 45, 60, 90, 120]
    assert cfg.thresholds.gap_min == 60
    assert cfg.network.speed_table() == DEFAULT_SPEEDS_KPH
    assert cfg.surface.cell_m == 250


def test_speed_override_merges_with_defaults(tmp_path):
    body = MINIMAL + "[network]\nspeeds_kph = { track = 10 }\n"
    cfg = load_region(config=_write(tmp_path, body))
    assert cfg.network.speed_table()["track"] == 10
    assert cfg.network.speed_table()["primary"] == DEFAULT_SPEEDS_KPH["primary"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "[thresholds]\ngap_mins = 30\n",
            "unknown key 'thresholds.gap_mins'; did you mean 'gap_min'?",
        ),
        ("[thresholds]\ngap_min = -5\n", "thresholds.gap_min = -5 is invalid"),
        ("[thresholds]\nbands_min = [30, 15]\n", "must be strictly ascending"),
        ("[thresholds]\ngap_min = 'sixty'\n", "thresholds.gap_min = 'sixty' is invalid"),
        ('crs = "EPSG:999999"\n', "is not a CRS pyproj knows"),
        ('crs = "EPSG:4326"\n', "is not projected"),
        ("[surface]\ncell_m = 0\n", "surface.cell_m = 0 is invalid"),
        ('[source]\nurls = ["ftp://example.org/x.pbf"]\n', "is not an http(s) URL"),
        (
            "[boundary]\nadmin_level = 6\ndistrict_admin_level = 4\n",
            "must be greater than admin_level",
        ),
        ("speling = 1\n", "unknown key 'speling'"),
    ],
)
def test_bad_values_name_field_and_fix(tmp_path, extra, expected):
    lines = MINIMAL.splitlines()
    top, rest = "\n".join(lines[:3]), "\n".join(lines[3:])
    body = top + "\n" + (extra if not extra.startswith("[") else "") + rest + "\n"
    if extra.startswith("["):
        body += extra
    with pytest.raises(ConfigError) as err:
        load_region(config=_write(tmp_path, body))
    message = str(err.value)
    assert expected in message
    assert "\n" not in message


def test_anchors_need_exactly_one_way(tmp_path):
    body = 'name = "{name}"\ndisplay_name = "T"\n[anchors]\nnames = ["A"]\ncsv = "a.csv"\n'
    with pytest.raises(
        ConfigError, match=r"give exactly one of anchors\.names, anchors\.csv or anchors\.rule"
    ):
        load_region(config=_write(tmp_path, body))


def test_missing_anchors_section(tmp_path):
    with pytest.raises(ConfigError, match="missing required key 'anchors'"):
        load_region(config=_write(tmp_path, 'name = "{name}"\ndisplay_name = "T"\n'))


def test_unknown_region_lists_available():
    with pytest.raises(ConfigError) as err:
        load_region("vologdaa")
    assert "did you mean 'vologda'" in str(err.value)
    assert "andorra" in str(err.value)


@pytest.mark.parametrize("name", ["../../etc", "Vologda", "a b", ""])
def test_region_name_cannot_escape_data_folders(tmp_path, name):
    with pytest.raises(ConfigError):
        load_region(name)
    body = f'name = "{name}"\ndisplay_name = "T"\n[anchors]\nnames = ["A"]\n'
    path = tmp_path / "escape.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match="name"):
        load_region(config=path)


def test_name_must_match_file(tmp_path):
    path = _write(tmp_path, MINIMAL.replace("{name}", "other"), name="testland")
    with pytest.raises(ConfigError, match="must equal the file name 'testland'"):
        load_region(config=path)


def test_bad_toml_and_encoding(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_region(config=_write(tmp_path, "name = \n"))
    path = tmp_path / "latin.toml"
    path.write_bytes('name = "latin"\ndisplay_name = "Вологда"\n'.encode("cp1251"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_region(config=path)


def test_relative_paths_resolve_against_the_region_file(tmp_path):
    cfg = load_region("andorra")
    pbf = cfg.resolve(cfg.source.local_pbf)
    assert pbf.is_file()
    assert pbf.parent == Path(cfg.region_file).parent / "andorra"


# --- keys that changed, seasons merged key by key, the README's own examples -------------------


@pytest.mark.parametrize(
    ("section", "key", "why"),
    [
        ("surface", "k_nearest = 16", "every road point within network.snap_max_m"),
        ("services", "link_max_m = 3000", "services.reach_m"),
    ],
)
def test_a_key_that_is_gone_says_why(tmp_path, section, key, why):
    with pytest.raises(
        ConfigError, match=f"{section}.{key.split()[0]} is no longer a setting"
    ) as err:
        load_region(config=_write(tmp_path, MINIMAL + f"[{section}]\n{key}\n"))
    assert why in str(err.value)


def test_seasons_merge_into_the_defaults_key_by_key(tmp_path):
    body = (
        MINIMAL
        + '[seasons.summer]\nstart = "06-01"\n[seasons.winter]\nwinter_road_speed_kph = 25\n'
    )
    cfg = load_region(config=_write(tmp_path, body))
    assert list(cfg.seasons) == ["summer", "winter", "thaw"]  # the thaw is kept
    assert cfg.seasons["summer"].start == "06-01" and cfg.seasons["summer"].end == "10-31"
    assert cfg.seasons["winter"].winter_road_speed_kph == 25
    assert cfg.seasons["winter"].winter_roads  # unnamed rules keep their defaults
    assert not cfg.seasons["thaw"].soft_unpaved_open


def test_a_default_season_can_be_dropped_and_a_new_one_added(tmp_path):
    body = MINIMAL + '[seasons]\nthaw = false\n[seasons.autumn]\nstart = "10-01"\nend = "11-30"\n'
    cfg = load_region(config=_write(tmp_path, body))
    assert list(cfg.seasons) == ["summer", "winter", "autumn"]


def _readme_toml_blocks() -> list[str]:
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    return [block.split("```", 1)[0] for block in text.split("```toml\n")[1:]]


@pytest.mark.parametrize("block", _readme_toml_blocks())
def test_every_toml_example_in_the_readme_passes_make_check(tmp_path, block):
    import subprocess
    import sys

    from pipeline.network.scenarios import Scenario

    assert block.strip()
    if "add_roads" in block or block.lstrip().startswith("description"):  # a scenario file
        import tomllib

        Scenario.model_validate(tomllib.loads(block))
        return
    tables = {line.strip() for line in block.splitlines() if line.strip().startswith("[")}
    base = 'name = "{name}"\ndisplay_name = "Test"\n' + block
    if not any(t.startswith("[anchors") for t in tables):
        base += '\n[anchors]\nnames = ["A"]\n'
    path = _write(tmp_path, base)
    if 'csv = "services.csv"' in block:  # `make check` reads the files a region file names
        (path.parent / "services.csv").write_text("name,type,lat,lon\nA,school,60,39\n")
    run = subprocess.run(
        [sys.executable, "-m", "pipeline", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr


def test_a_region_crs_that_stretches_distances_is_refused():
    import shapely

    from pipeline.crs import region_crs

    cfg = load_region("vologda").model_copy(update={"crs": "EPSG:3857"})
    with pytest.raises(ConfigError, match=r"stretches distances by 100\.0%.*EPSG:32637"):
        region_crs(cfg, shapely.Point(40.0, 60.0))
    ok = load_region("vologda")
    assert region_crs(ok, shapely.Point(40.0, 60.0)).to_epsg() == 32637


def test_offline_anchor_rule_and_cores_replace_the_region_lists_offline_only(tmp_path):
    """The one anchor policy (pipeline/access/anchors.anchor_sources), which both the run and
    `make check` follow: offline, [offline] anchor_rule and cores replace [anchors] and [cores];
    with an extract, the region file's own lists count."""
    from pipeline.access.anchors import anchor_sources

    body = MINIMAL + (
        '[cores]\nnames = ["A"]\n'
        '[offline]\ndistricts = "d.geojson"\nsettlements = "s.csv"\n'
        'anchor_rule = { places = ["town"] }\ncores = ["B"]\n'
    )
    cfg = load_region(config=_write(tmp_path, body))
    offline, online = anchor_sources(cfg, approximate=True), anchor_sources(cfg, approximate=False)
    assert offline.names == [] and offline.rule.places == ["town"] and offline.offline_rule
    assert offline.core_names == ["B"]
    assert online.names == ["A"] and online.rule is None and not online.offline_rule
    assert online.core_names == ["A"]


def test_projecting_on_every_core_gives_what_to_crs_gives():
    """pipeline.crs.project_geometries splits the coordinates among the cores; the result must
    be geopandas' to_crs exactly, for points, lines and polygons with holes, and the input
    array must be left as it was."""
    import geopandas as gpd
    import numpy as np
    import shapely

    from pipeline.crs import project_geometries

    rng = np.random.default_rng(5)
    lines = [shapely.LineString(rng.uniform([35, 58], [46, 61], (n, 2))) for n in (2, 7, 300)]
    ring = shapely.Point(40, 60).buffer(0.5)
    geoms = np.array(
        [
            *lines,
            shapely.Point(39.9, 59.2),
            shapely.Polygon(ring.exterior, [ring.buffer(-0.2).exterior]),
            None,
        ],
        dtype=object,
    )
    before = geoms.copy()
    crs = "+proj=laea +lat_0=60 +lon_0=40 +datum=WGS84 +units=m +no_defs"
    got = project_geometries(geoms, "EPSG:4326", crs)
    want = gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs(crs).to_numpy()
    assert got[-1] is None
    assert all(shapely.equals_exact(a, b, 0) for a, b in zip(got[:-1], want[:-1], strict=True))
    assert all(a is b for a, b in zip(geoms, before, strict=True))
