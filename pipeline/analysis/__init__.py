"""Answers built on the travel times: seasons compared, two runs compared (diff) and planning
(anchors to add, ties across borders, monotown reach)."""
