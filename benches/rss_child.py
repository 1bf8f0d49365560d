"""Child process of bench_read.py: peak RSS while iterating one .etl file with pyetwkit.

Run as ``python rss_child.py FILE`` in a fresh interpreter that imports nothing but
pyetwkit, so that no other import can raise the peak first. Prints one JSON object:
the records read and this process's peak RSS, in bytes, after importing pyetwkit and
after reading.

On Linux the peak is VmHWM from /proc/self/status rather than ru_maxrss: a child's
ru_maxrss starts from its parent's peak (the kernel carries it across fork and exec), so
with a benchmark parent of several hundred MiB it would hide the child's own growth.
VmHWM belongs to the address space that exec created, and is otherwise the same measure.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import pyetwkit

PROC_STATUS = Path("/proc/self/status")


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far."""
    if PROC_STATUS.is_file():
        for line in PROC_STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # reported in kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS bytes, others KiB


def main(path: str) -> None:
    after_import = peak_rss_bytes()
    records = 0
    with pyetwkit.open_etl(path) as etl:
        for _event in etl:
            records += 1
    after_read = peak_rss_bytes()
    print(json.dumps({"records": records, "after_import": after_import, "after_read": after_read}))


if __name__ == "__main__":
    main(sys.argv[1])
