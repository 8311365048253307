"""Anchor-settlement accessibility from OpenStreetMap."""

import os

# GDAL would otherwise leave *.aux.xml files beside the GeoPackages it reads.
os.environ.setdefault("GDAL_PAM_ENABLED", "NO")
