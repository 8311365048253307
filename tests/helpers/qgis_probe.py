"""Open a QGIS project and a GeoPackage in real, headless QGIS; print what QGIS sees as JSON.

Run by tests/test_qgis.py with the system Python that Debian's ``python3-qgis`` binds
(``/usr/bin/python3``), not the project's virtual environment:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_probe.py PROJECT.qgz GPKG OUT.png

Standard library and PyQGIS only. Renders the project's map (its default view, every layer
that the project shows) to OUT.png.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # Qt reads QT_QPA_PLATFORM at import: set above
    Qgis,
    QgsApplication,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRasterLayer,
    QgsRenderContext,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor


def _vector_info(layer: QgsVectorLayer) -> dict:
    renderer = layer.renderer()
    context = QgsRenderContext()
    unstyled = 0
    if renderer is not None:
        renderer.startRender(context, layer.fields())
        for feature in layer.getFeatures():
            context.expressionContext().setFeature(feature)
            if not renderer.symbolsForFeature(feature, context):
                unstyled += 1
        renderer.stopRender(context)
    labeling = layer.labeling()
    return {
        "kind": "vector",
        "valid": layer.isValid(),
        "features": layer.featureCount(),
        "renderer": renderer.type() if renderer else None,
        "unstyled_features": unstyled,
        "legend": [item.label() for item in renderer.legendSymbolItems()] if renderer else [],
        "labels": bool(layer.labelsEnabled() and labeling is not None),
        "label_expression": labeling.settings().fieldName if labeling is not None else None,
        "label_placement": int(labeling.settings().placement) if labeling is not None else None,
        "label_display_all": bool(labeling.settings().displayAll) if labeling is not None else None,
        "crs": layer.crs().authid(),
        "source": layer.source(),
    }


def _layer_info(layer) -> dict:
    if isinstance(layer, QgsVectorLayer):
        return _vector_info(layer)
    assert isinstance(layer, QgsRasterLayer)
    return {
        "kind": "raster",
        "valid": layer.isValid(),
        "renderer": layer.renderer().type() if layer.renderer() else None,
        "bands": layer.bandCount(),
        "crs": layer.crs().authid(),
        "source": layer.source(),
    }


def _render(project: QgsProject, png: str) -> dict:
    root = project.layerTreeRoot()
    visible = [node.layer() for node in root.findLayers() if node.isVisible()]
    settings = QgsMapSettings()
    settings.setLayers(visible)  # layer tree order: top first, as the map canvas draws them
    settings.setDestinationCrs(project.crs())
    settings.setOutputSize(QSize(900, 700))
    extent = project.viewSettings().defaultViewExtent()
    settings.setExtent(extent)
    settings.setBackgroundColor(QColor(255, 255, 255))
    settings.setFlag(QgsMapSettings.Antialiasing, True)
    settings.setFlag(QgsMapSettings.DrawLabeling, True)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(png, "PNG")
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)
    }
    return {
        "visible_layers": [layer.id() for layer in visible],
        "extent": [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()],
        "visible_extent": settings.visibleExtent().toString(),
        "distinct_colours": len(colours),
        "errors": [e.message for e in job.errors()],
    }


def main(project_path: str, gpkg_path: str, png: str) -> dict:
    app = QgsApplication([], False)
    app.initQgis()
    project = QgsProject.instance()
    ok = project.read(project_path)
    out = {
        "read": ok,
        "title": project.title(),
        "abstract": project.metadata().abstract(),
        "crs": project.crs().authid(),
        "absolute_paths": project.readBoolEntry("Paths", "/Absolute", True)[0],
        "tree": [
            [group.name(), [child.layerId() for child in group.findLayers()]]
            for group in project.layerTreeRoot().children()
        ],
        "layers": {lid: _layer_info(layer) for lid, layer in project.mapLayers().items()},
    }
    out["render"] = _render(project, png)
    # The GeoPackage alone, as when dragged into QGIS: each layer's default style from layer_styles.
    out["gpkg_defaults"] = {}
    for info in out["layers"].values():
        if info["kind"] != "vector":
            continue
        name = info["source"].split("layername=")[-1]
        layer = QgsVectorLayer(f"{gpkg_path}|layername={name}", name, "ogr")
        out["gpkg_defaults"][name] = layer.renderer().type() if layer.renderer() else None
    out["qgis_version"] = Qgis.QGIS_VERSION
    return out


if __name__ == "__main__":
    print("QGIS-PROBE " + json.dumps(main(*sys.argv[1:4])), flush=True)
    # Tearing QGIS down from Python can crash on exit (PyQGIS objects outliving the app);
    # everything needed is printed, so leave at once.
    os._exit(0)
