"""Testland: the small synthetic region several tests write their own OSM data for. Its
settings after [source] and [boundary] are the same everywhere; each test adds its head (name,
source, boundary) and, where it needs them, sections of its own."""

SETTINGS = """\
[anchors]
names = ["Alpha", "Gamma"]

[cores]
names = ["Alpha"]
zone_min = [10, 20]

[thresholds]
bands_min = [5, 10, 20]
gap_min = 15

[network]
snap_max_m = 1000

[surface]
cell_m = 500
"""
