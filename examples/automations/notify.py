"""A stand-in for a real notifier (a chat webhook, a toast, a ticket): appends one
JSON line per alert to a file.

    python3 notify.py TITLE IMAGE COMMAND_LINE

new_process.toml runs it with the matched rule's title and the new process's image
and command line, each one argv element: a command line full of quotes, ``&`` or
``$(...)`` arrives here as plain text, since no shell is involved.

The file is ``$NOTIFY_FILE``, or ``pyetwkit-notifications.jsonl`` in the system's
temporary folder.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    title, image, command_line = argv
    path = os.environ.get("NOTIFY_FILE") or os.path.join(
        tempfile.gettempdir(), "pyetwkit-notifications.jsonl"
    )
    line = json.dumps({"title": title, "image": image, "command_line": command_line})
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
