"""What goes out: GeoPackages and CSV files, the HTML map and report, the QGIS project, and
what they share (texts in every language, colours, templates, vendored Leaflet)."""
