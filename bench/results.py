"""Where benchmark figures go: one JSON file per run under ``bench/results/``
(not committed), with the environment they were measured in."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import pymongo

__all__ = ["RESULTS", "save"]

RESULTS = Path(__file__).parent / "results"


def save(name: str, result: dict[str, Any], **environment: str) -> Path:
    """Write ``result`` with an ``env`` record (``environment`` adds to it); the file."""
    result["env"] = {"python": platform.python_version(), "pymongo": pymongo.version,
                     "server": "secantusdb (embedded)",
                     "cpu": platform.processor() or platform.machine(), **environment}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{int(time.time())}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path
