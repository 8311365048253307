"""The road network: OSM tags to speeds, the CSR road graph (:mod:`pipeline.network.graph`),
the season and scenario edits made to its edge list before it is built, and GraphML for osmnx.

The graph never learns what a season or a scenario is: both are edits to the edge list.
"""
