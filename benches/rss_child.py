"""Child process of bench_read.py and bench_arrow.py: peak RSS while reading one .etl
file with pyetwkit.

Run as ``python rss_child.py FILE [MODE]`` in a fresh interpreter that imports nothing but
pyetwkit (and pyarrow for ``arrow``), so that no other import can raise the peak first.
MODE: ``iterate`` (default: every event object), ``arrow`` (the events table streamed as
record batches, each dropped once counted) or ``parquet`` (``pyetwkit convert`` to a
temporary folder). Prints one JSON object: the records read and this process's peak RSS,
in bytes, after the imports and after reading.

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


def read(path: str, mode: str) -> int:
    if mode == "arrow":
        import pyarrow as pa

        stream = pa.RecordBatchReader.from_stream(pyetwkit.open_etl(path).batches())
        return sum(batch.num_rows for batch in stream)
    if mode == "parquet":
        import tempfile

        from pyetwkit._core import Converter

        with tempfile.TemporaryDirectory() as out:
            converter = Converter([path], out, "parquet")
            while True:
                _read, _total, rows, done = converter.step(65_536)
                if done:
                    return rows
    records = 0
    with pyetwkit.open_etl(path) as etl:
        for _event in etl:
            records += 1
    return records


def main(path: str, mode: str) -> None:
    if mode == "arrow":
        import pyarrow  # noqa: F401 - its own memory belongs to the baseline
    after_import = peak_rss_bytes()
    records = read(path, mode)
    after_read = peak_rss_bytes()
    print(json.dumps({"records": records, "after_import": after_import, "after_read": after_read}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "iterate")
