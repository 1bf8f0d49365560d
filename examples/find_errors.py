"""Print error-level events (level 1-2) with their stacks, as JSON Lines.

    python examples/find_errors.py [FILE]

Without FILE it reads pyetwkit's bundled sample recording, where four requests fail.
"""

from __future__ import annotations

import json
import os
import sys

import pyetwkit

CRITICAL, ERROR = 1, 2


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else pyetwkit.sample_etl_path()
    try:
        with pyetwkit.open_etl(path) as etl:
            for event in etl:
                if event.kind == "event" and event.level in (CRITICAL, ERROR):
                    record = {
                        "timestamp": event.timestamp,
                        "provider": event.provider_name or event.provider_id,
                        "name": event.name,
                        "pid": event.pid,
                        "stack": [hex(a) for a in event.stack or []],
                    }
                    print(json.dumps(record))
    except pyetwkit.EtlFormatError as e:
        # The events before the damage were printed. The message names the file
        # and the byte offset (also e.path and e.offset).
        print(f"stopped early: {e}", file=sys.stderr)
        sys.exit(1)
    except BrokenPipeError:
        # `find_errors.py | head`: the reader went away, which is fine; keep
        # Python from complaining about stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
