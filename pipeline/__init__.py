"""Anchor-settlement accessibility from OpenStreetMap.

The subpackages, by concern (docs/architecture.md: the data flow and what each may import):
``config`` (the region file), ``inputs`` (what comes in), ``network`` (the road graph,
seasons, scenarios), ``access`` (travel times), ``analysis`` (seasons compared, diff,
planning), ``outputs`` (GeoPackage, map, report, QGIS) and ``stages`` (one module per
Makefile rule); ``cli`` is ``python -m pipeline``.
"""

import os

# GDAL would otherwise leave *.aux.xml files beside the GeoPackages it reads.
os.environ.setdefault("GDAL_PAM_ENABLED", "NO")
