"""`make graphml`: the road graph as GraphML, for whoever continues in osmnx and networkx.

``data_processed/<region>/<region>.graphml`` is the network stage's graph as the default season
has it (the graph the catchments stage routes on: ways that season closes are left out,
slowed ones re-timed), in osmnx's form: a directed multigraph whose ``osmnx.load_graphml``
gives node ``x``/``y`` (lon/lat, graph attribute ``crs = "EPSG:4326"``) and edge ``length``
(m) and ``travel_time`` (s) as floats and ``osmid`` (the way) as int, so
``networkx.shortest_path_length(G, a, b, weight="travel_time")`` is the pipeline's time
between two road nodes. Also on each node: ``x_proj``/``y_proj`` (metres in the region's CRS,
graph attribute ``crs_proj``) and ``ferry`` (a ferry's own node: ferries get nodes apart from
the roads they meet, joined by a boarding edge that costs the wait); on each edge:
``highway`` (absent for a ferry without one), ``ferry``, ``winter_road``, ``soft``, ``gravel``
and ``boarding`` (the wait for a ferry), each ``True`` or ``False``.

osmnx reads every attribute it does not know as text: :func:`load_graphml` (or
``osmnx.load_graphml(path, node_dtypes=NODE_DTYPES, edge_dtypes=EDGE_DTYPES)``) reads them as
numbers and booleans. Nodes are the pipeline's road nodes (0..n-1), not OSM nodes; a way's
segments are edges of their own (the graph is not simplified: ``osmnx.simplify_graph`` may be
applied).

The file is written by a streaming writer (every text value escaped, characters XML forbids
dropped), under a hidden name and renamed when complete.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd

from pipeline._io import RegionPaths, atomic_path
from pipeline.config import RegionConfig
from pipeline.network.graph import (
    FLAG_BOARDING,
    FLAG_FERRY,
    FLAG_GRAVEL,
    FLAG_SOFT,
    FLAG_WINTER,
    RoadGraph,
    apply_season,
)

__all__ = [
    "EDGE_DTYPES",
    "NODE_DTYPES",
    "graphml_path",
    "load_graphml",
    "season_graph",
    "write_graphml",
]

logger = logging.getLogger(__name__)


def _bool(value) -> bool:
    """ "True"/"False" as GraphML stores them (osmnx's own reading of booleans)."""
    if isinstance(value, bool):
        return value
    if value in ("True", "False"):
        return value == "True"
    raise ValueError(f"not a boolean: {value!r}")


NODE_DTYPES = {"x_proj": float, "y_proj": float, "ferry": _bool}
EDGE_DTYPES = {flag: _bool for flag in ("ferry", "winter_road", "soft", "gravel", "boarding")}
_EDGE_FLAGS = {  # GraphML attribute -> FLAG_* bit
    "ferry": FLAG_FERRY,
    "winter_road": FLAG_WINTER,
    "soft": FLAG_SOFT,
    "gravel": FLAG_GRAVEL,
    "boarding": FLAG_BOARDING,
}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CHUNK = 100_000  # nodes or edges formatted at a time


def graphml_path(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """Where `make graphml` writes the region's graph: ``data_processed/<region>/<region>.graphml``.

    Parameters
    ----------
    cfg : RegionConfig
        The region.
    paths : RegionPaths
        Its files.

    Returns
    -------
    Path
        The GraphML file.
    """
    return paths.processed / f"{cfg.name}.graphml"


def season_graph(cfg: RegionConfig, graph: RoadGraph) -> tuple[str, RoadGraph]:
    """The region's default season applied to the graph, as the catchments stage applies it.

    Parameters
    ----------
    cfg : RegionConfig
        The region (its seasons, ferry months and wait).
    graph : RoadGraph
        The network stage's graph.

    Returns
    -------
    name : str
        The default season.
    graph : RoadGraph
        The graph in that season.
    """
    name, rules = cfg.season(None)
    return name, apply_season(graph, rules, cfg.ferry_months, cfg.network.ferry_wait_min)


def load_graphml(path: Path):
    """``osmnx.load_graphml`` with this module's attributes read as numbers and booleans.

    Parameters
    ----------
    path : Path
        A file written by `make graphml`.

    Returns
    -------
    networkx.MultiDiGraph
        The road graph, `travel_time` in seconds and `length` in metres per edge.
    """
    import osmnx as ox

    return ox.load_graphml(Path(path), node_dtypes=NODE_DTYPES, edge_dtypes=EDGE_DTYPES)


# --- writing --------------------------------------------------------------------------------


def write_graphml(path: Path, graph: RoadGraph, highway: pd.Series, attrs: dict[str, str]) -> None:
    """Write ``graph`` as GraphML at ``path`` (atomically).

    Parameters
    ----------
    graph : RoadGraph
        The graph to write (a season's: its edge times are the ``travel_time``).
    highway : pd.Series
        The ``highway`` tag of each way, indexed by way id (``graph.edge_way``).
    attrs : dict
        Graph attributes (``crs`` must be ``"EPSG:4326"`` for osmnx).
    """
    flags = graph.flags()
    ferry_node = np.zeros(graph.n_nodes, dtype=bool)
    on_ferry = (flags & FLAG_FERRY) != 0
    ferry_node[graph.edge_u[on_ferry]] = True
    ferry_node[graph.edge_v[on_ferry]] = True
    road = (flags & FLAG_BOARDING) == 0
    tags = highway[~highway.index.duplicated()].reindex(graph.edge_way)
    edge_highway = np.where(road & tags.notna().to_numpy(), tags.to_numpy(dtype=object), None)
    node_keys = [("x", "x"), ("y", "y"), ("x_proj", "x_proj"), ("y_proj", "y_proj")]
    node_keys.append(("ferry", "n_ferry"))
    edge_keys = [("osmid", "osmid"), ("highway", "highway"), ("length", "length")]
    edge_keys += [("travel_time", "travel_time")]
    edge_keys += [(name, f"e_{name}") for name in _EDGE_FLAGS]
    with atomic_path(Path(path)) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(
            "<?xml version='1.0' encoding='utf-8'?>\n"
            '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
            'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
        )
        for name in attrs:
            fh.write(_key(f"g_{name}", "graph", name))
        for name, key in node_keys:
            fh.write(_key(key, "node", name))
        for name, key in edge_keys:
            fh.write(_key(key, "edge", name))
        fh.write('<graph edgedefault="directed">\n')
        for name, value in attrs.items():
            fh.write(f'<data key="g_{name}">{_text(value)}</data>\n')
        lon, lat = graph.node_lonlat[:, 0].tolist(), graph.node_lonlat[:, 1].tolist()
        x, y = graph.node_xy[:, 0].tolist(), graph.node_xy[:, 1].tolist()
        for start in range(0, graph.n_nodes, _CHUNK):
            stop = min(start + _CHUNK, graph.n_nodes)
            fh.writelines(
                f'<node id="{i}"><data key="x">{lon[i]!r}</data><data key="y">{lat[i]!r}</data>'
                f'<data key="x_proj">{x[i]!r}</data><data key="y_proj">{y[i]!r}</data>'
                f'<data key="n_ferry">{bool(ferry_node[i])}</data></node>\n'
                for i in range(start, stop)
            )
        fh.writelines(_edges(graph, flags, edge_highway))
        fh.write("</graph>\n</graphml>\n")


def _edges(graph: RoadGraph, flags: np.ndarray, highway: np.ndarray) -> Iterable[str]:
    escaped = {v: _text(v) for v in pd.unique(highway[pd.notna(highway)]) if str(v)}
    u, v = graph.edge_u.tolist(), graph.edge_v.tolist()
    way, length = graph.edge_way.tolist(), graph.edge_length_m.tolist()
    seconds = graph.edge_time_s.tolist()
    bits = {name: ((flags & bit) != 0).tolist() for name, bit in _EDGE_FLAGS.items()}
    for i in range(len(u)):
        boarding = bits["boarding"][i]
        tag = None if highway[i] is None else escaped.get(highway[i])
        yield (
            f'<edge source="{u[i]}" target="{v[i]}">'
            + ("" if boarding else f'<data key="osmid">{way[i]}</data>')
            + (f'<data key="highway">{tag}</data>' if tag else "")
            + f'<data key="length">{length[i]!r}</data>'
            f'<data key="travel_time">{seconds[i]!r}</data>'
            + "".join(f'<data key="e_{name}">{bits[name][i]}</data>' for name in _EDGE_FLAGS)
            + "</edge>\n"
        )


def _key(key: str, domain: str, name: str) -> str:
    return f'<key id="{key}" for="{domain}" attr.name={quoteattr(name)} attr.type="string"/>\n'


def _text(value) -> str:
    """Text for an XML element: characters XML does not allow dropped, the rest escaped."""
    return escape(_NOT_XML.sub("", str(value)))
