"""The defaults of the region file that are tables: service types and their OSM tags, core
services, service reach and desert limits, and the seasons every region gets unless its file
says otherwise. The scalar defaults (speeds, thresholds) are the fields of
:mod:`pipeline.config.schema`."""

from __future__ import annotations

__all__ = [
    "DEFAULT_CORE_SERVICES",
    "DEFAULT_DESERT_MIN",
    "DEFAULT_REACH_M",
    "DEFAULT_SEASONS",
    "DEFAULT_SERVICE_TAGS",
]

# Service type -> OSM tags that make an object that service. Russian practice: a
# feldsher-midwife post (ФАП) is mapped as healthcare=centre or healthcare=feldsher
# (sometimes with amenity=clinic, which then counts as a clinic as well).
DEFAULT_SERVICE_TAGS: dict[str, list[str]] = {
    "hospital": ["amenity=hospital", "healthcare=hospital"],
    "clinic": ["amenity=clinic", "healthcare=clinic", "amenity=doctors", "healthcare=doctor"],
    "fap": ["healthcare=centre", "healthcare=feldsher", "healthcare=paramedic"],
    "pharmacy": ["amenity=pharmacy", "healthcare=pharmacy"],
    "school": ["amenity=school"],
    "kindergarten": ["amenity=kindergarten"],
    "post_office": ["amenity=post_office"],
    "bank": ["amenity=bank"],  # a branch; a cash machine (amenity=atm) is not one
    "shop": ["shop=supermarket", "shop=convenience", "shop=general"],
    "fuel": ["amenity=fuel"],
    "police": ["amenity=police"],
    "fire_station": ["amenity=fire_station"],
    "culture": ["amenity=library", "amenity=community_centre", "amenity=arts_centre"],
}

# What every anchor should offer; `a|b` means either will do.
DEFAULT_CORE_SERVICES = ["school", "clinic|fap", "pharmacy", "post_office"]

# How far from its centre a settlement's services may lie and still be its own (for services
# outside every OSM place area), metres, by place class: a town spreads farther than a hamlet.
DEFAULT_REACH_M: dict[str, float] = {
    "city": 10_000.0,
    "town": 5_000.0,
    "village": 1_000.0,
    "hamlet": 300.0,
    "isolated_dwelling": 150.0,
}

# Beyond this many minutes from the nearest service of a type, a settlement is in that
# type's service desert.
DEFAULT_DESERT_MIN: dict[str, float] = {
    "hospital": 60.0,
    "clinic": 30.0,
    "fap": 30.0,
    "pharmacy": 30.0,
    "school": 30.0,
    "kindergarten": 30.0,
    "post_office": 30.0,
    "bank": 60.0,
    "shop": 30.0,
    "fuel": 60.0,
    "police": 60.0,
    "fire_station": 30.0,
    "culture": 60.0,
}


# The seasons of every region whose file sets no [seasons]: the calendar of the Russian
# North, taken from Vologda Oblast (the first region): rivers free of ice from about mid-May to
# the end of October (ferry navigation); зимники and ice crossings open from mid-December to
# the end of March; the spring thaw (распутица) with ice break-up from April to mid-May, when
# ferries cannot run, winter roads are gone and dirt roads are impassable. A region with
# another climate sets its own [seasons.<name>] tables (README, Seasons).
DEFAULT_SEASONS: dict[str, dict] = {
    "summer": {"start": "05-15", "end": "10-31"},
    "winter": {
        "start": "12-15",
        "end": "03-31",
        "winter_roads": True,
        "ferries": False,
        "soft_unpaved_factor": 0.8,
    },
    "thaw": {
        "start": "04-01",
        "end": "05-14",
        "ferries": False,
        "soft_unpaved_open": False,
        "gravel_factor": 0.6,
    },
}
