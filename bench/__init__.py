"""Benchmark of the pipeline: a seeded generator of synthetic regions and a runner that times them."""
