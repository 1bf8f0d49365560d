"""Reports a .NET garbage collection that gc.toml selected: one line on stdout
(the runner captures it: ``--audit`` shows it as the action's ``stdout``).

    python on_gc.py [LABEL] < event.json

The runner writes the event to stdin as one JSON object: its attributes (pid,
timestamp, name, ...), its decoded properties (Depth, Reason, ...) and ``rule``.
LABEL (gc.toml passes the rule's name) starts the line.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def describe(event: dict[str, Any]) -> str:
    properties = event.get("properties")
    props: dict[str, Any] = properties if isinstance(properties, dict) else {}

    def get(name: str) -> Any:
        return event.get(name, props.get(name))

    if str(event.get("name", "")).endswith("/Start"):
        what = (
            f"gen-{get('Depth')} GC #{get('Count')} started ({get('Type')}, reason {get('Reason')})"
        )
    else:
        what = f"GC triggered, reason {get('Reason')}"
    return f"{what} in pid {event.get('pid')} at {event.get('timestamp')}"


def main(argv: list[str]) -> int:
    event = json.load(sys.stdin)
    label = argv[0] if argv else event.get("rule", "gc")
    print(f"{label}: {describe(event)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
