"""Write tiny *synthetic* OSM XML files for tests.

Nothing written here is real OpenStreetMap data: the tests invent every node, way and
relation (a ferry, a one-way road, an island, ...) so that the expected travel times can be
worked out by hand. pyosmium reads ``.osm`` XML just like ``.osm.pbf``; :func:`write_pbf`
writes the same objects as a PBF (with pyosmium's writer) for stages that insist on one.

Example
-------
>>> b = OsmBuilder()
>>> a = b.node(10.0, 60.0)
>>> c = b.node(10.01, 60.0)
>>> b.way([a, c], highway="primary")
1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

__all__ = ["OsmBuilder", "write_osm", "write_pbf"]

Tags = dict[str, str]


@dataclass
class OsmBuilder:
    """Collects nodes, ways and relations with automatic ids, then writes them as OSM XML."""

    nodes: list[tuple[int, float, float, Tags]] = field(default_factory=list)
    ways: list[tuple[int, list[int], Tags]] = field(default_factory=list)
    relations: list[tuple[int, list[tuple[str, int, str]], Tags]] = field(default_factory=list)
    _next_node: int = 1
    _next_way: int = 1
    _next_relation: int = 1

    def node(self, lon: float, lat: float, **tags: str) -> int:
        """Add a node; returns its id."""
        nid = self._next_node
        self._next_node += 1
        self.nodes.append((nid, lon, lat, dict(tags)))
        return nid

    def way(self, refs: list[int], **tags: str) -> int:
        """Add a way through existing node ids; returns its id."""
        wid = self._next_way
        self._next_way += 1
        self.ways.append((wid, list(refs), dict(tags)))
        return wid

    def road(self, lonlats: list[tuple[float, float]], **tags: str) -> tuple[int, list[int]]:
        """Add fresh nodes at `lonlats` and a way through them; returns (way id, node ids)."""
        refs = [self.node(lon, lat) for lon, lat in lonlats]
        return self.way(refs, **tags), refs

    def place(self, lon: float, lat: float, name: str, place: str = "village", **tags: str) -> int:
        """Add a named place node (a settlement)."""
        return self.node(lon, lat, place=place, name=name, **tags)

    def relation(
        self, members: list[tuple[str, int, str]], rid: int | None = None, **tags: str
    ) -> int:
        """Add a relation; members are (type 'node'/'way'/'relation', ref, role)."""
        if rid is None:
            rid = self._next_relation
        self._next_relation = max(self._next_relation, rid) + 1
        self.relations.append((rid, list(members), dict(tags)))
        return rid

    def admin_boundary(
        self,
        bbox: tuple[float, float, float, float],
        *,
        admin_level: int,
        name: str,
        rid: int | None = None,
    ) -> int:
        """A square administrative boundary around `bbox` (lon_min, lat_min, lon_max, lat_max).

        One closed way (no tags) and a relation type=boundary boundary=administrative
        admin_level=N with that way as its outer member. Returns the relation id.
        """
        x0, y0, x1, y1 = bbox
        corners = [self.node(x0, y0), self.node(x1, y0), self.node(x1, y1), self.node(x0, y1)]
        ring = self.way([*corners, corners[0]])
        return self.relation(
            [("way", ring, "outer")],
            rid=rid,
            type="boundary",
            boundary="administrative",
            admin_level=str(admin_level),
            name=name,
        )

    def write(self, path: Path) -> Path:
        """Write the collected objects to `path`: PBF if it ends in ``.pbf``, else OSM XML."""
        if str(path).endswith(".pbf"):
            return write_pbf(path, self.nodes, self.ways, self.relations)
        return write_osm(path, self.nodes, self.ways, self.relations)


def _tag_lines(tags: Tags) -> list[str]:
    return [f"    <tag k={quoteattr(k)} v={quoteattr(str(v))}/>" for k, v in sorted(tags.items())]


def write_osm(
    path: Path,
    nodes: list[tuple[int, float, float, Tags]],
    ways: list[tuple[int, list[int], Tags]] = (),
    relations: list[tuple[int, list[tuple[str, int, str]], Tags]] = (),
) -> Path:
    """Write a synthetic OSM XML file.

    Parameters
    ----------
    nodes : (id, lon, lat, tags)
    ways : (id, node refs, tags)
    relations : (id, members as (type, ref, role), tags)
    """
    common = 'version="1" timestamp="2024-01-01T00:00:00Z" visible="true"'
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="tests">']
    for nid, lon, lat, tags in sorted(nodes):
        head = f'  <node id="{nid}" {common} lat="{lat:.7f}" lon="{lon:.7f}"'
        if tags:
            lines += [head + ">", *_tag_lines(tags), "  </node>"]
        else:
            lines.append(head + "/>")
    for wid, refs, tags in sorted(ways, key=lambda w: w[0]):
        lines.append(f'  <way id="{wid}" {common}>')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [*_tag_lines(tags), "  </way>"]
    for rid, members, tags in sorted(relations, key=lambda r: r[0]):
        lines.append(f'  <relation id="{rid}" {common}>')
        lines += [
            f'    <member type="{t}" ref="{ref}" role={quoteattr(role)}/>'
            for t, ref, role in members
        ]
        lines += [*_tag_lines(tags), "  </relation>"]
    lines.append("</osm>")
    path = Path(path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_pbf(
    path: Path,
    nodes: list[tuple[int, float, float, Tags]],
    ways: list[tuple[int, list[int], Tags]] = (),
    relations: list[tuple[int, list[tuple[str, int, str]], Tags]] = (),
) -> Path:
    """Write the same synthetic objects as :func:`write_osm`, as an ``.osm.pbf`` file."""
    import osmium  # the pipeline's own reader; imported here so XML needs nothing

    path = Path(path)
    path.unlink(missing_ok=True)  # the writer refuses to overwrite
    kind = {"node": "n", "way": "w", "relation": "r"}
    writer = osmium.SimpleWriter(str(path))
    try:
        for nid, lon, lat, tags in sorted(nodes):
            writer.add_node(
                osmium.osm.mutable.Node(id=nid, location=(lon, lat), tags=tags, version=1)
            )
        for wid, refs, tags in sorted(ways, key=lambda w: w[0]):
            writer.add_way(osmium.osm.mutable.Way(id=wid, nodes=refs, tags=tags, version=1))
        for rid, members, tags in sorted(relations, key=lambda r: r[0]):
            members = [(kind[t], ref, role) for t, ref, role in members]
            writer.add_relation(
                osmium.osm.mutable.Relation(id=rid, members=members, tags=tags, version=1)
            )
    finally:
        writer.close()
    return path
