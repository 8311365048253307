"""Access: travel times over the road network.

The one walk-and-drive rule (:mod:`pipeline.access.walk_and_drive`), the multi-source routing
under it, the travel-time grid over the region, catchments, services and population. Every
travel time of the project comes from here.
"""
