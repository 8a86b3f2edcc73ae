"""What the console loads before its first frame, and the collector around it.

Start-up is measured by benchmarks/store_scale.py; these tests keep the reasons it is
fast from eroding unnoticed: a top-level import of the model, or of the HTTP, DNS and
scheduler libraries, in a module the first frame needs would put their cost back in
front of it.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: Loaded after the first frame (the pipeline, the model, every screen but the main one).
LATER = (
    "console.model",
    "console.wire",
    "console.jobs",
    "console.export",
    "httpx",
    "dns.resolver",
    "apscheduler",
    "widgets.dmarc",
    "widgets.customer",
    "widgets.detail",
)


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def test_the_first_frame_needs_neither_the_model_nor_the_pipeline_libraries() -> None:
    out = run_python(
        "import json, sys\n"
        "import console.__main__, console.app\n"
        f"print(json.dumps([m for m in {LATER!r} if m in sys.modules]))"
    )
    assert json.loads(out) == []


def test_the_command_holds_the_collector_until_released() -> None:
    out = run_python(
        "import gc, json\n"
        "import console.__main__\n"
        "from console.startup import release_collector\n"
        "held = gc.isenabled()\n"
        "release_collector()\n"
        "print(json.dumps([held, gc.isenabled(), gc.get_freeze_count() > 0]))"
    )
    assert json.loads(out) == [False, True, True]


def test_release_leaves_a_collector_it_did_not_hold_alone() -> None:
    out = run_python(
        "import gc, json\n"
        "from console.startup import release_collector\n"
        "gc.disable()\n"  # an embedding program's own choice
        "release_collector()\n"
        "print(json.dumps([gc.isenabled(), gc.get_freeze_count()]))"
    )
    assert json.loads(out) == [False, 0]
