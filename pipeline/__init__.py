"""Anchor-settlement accessibility from OpenStreetMap."""
