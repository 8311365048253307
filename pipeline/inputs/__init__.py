"""What comes in: the OSM extract (a download, a local file or Overpass), its roads, places,
boundaries and services, the bundled offline data, settlement tables and planners' CSV files.

Modules here read files and return GeoDataFrames in EPSG:4326; they compute no travel times.
"""
