"""The shipped Vologda region, offline: its bundled data, no extract."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline._io import region_paths
from pipeline.config import PROJECT_ROOT, load_region


def vologda_offline(tmp_path: Path, extra: str = ""):
    """The shipped Vologda region, bundled data paths made absolute, with no extract (offline)."""
    text = (PROJECT_ROOT / "regions" / "vologda.toml").read_text(encoding="utf-8")
    text = text.replace('"vologda/', f'"{PROJECT_ROOT / "regions" / "vologda"}/') + extra
    (tmp_path / "vologda.toml").write_text(text, encoding="utf-8")
    cfg = load_region(config=tmp_path / "vologda.toml")
    paths = region_paths(cfg, root=tmp_path)
    paths.raw.mkdir(parents=True)
    paths.sources.write_text(json.dumps({"mode": "fallback", "reason": "test: offline"}))
    return cfg, paths
