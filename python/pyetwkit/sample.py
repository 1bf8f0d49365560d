"""The sample recording pyetwkit ships, for the quick start, examples and tests.

It is made by pyetwkit's own .etl writer: a small app starts, serves 40 requests
(four of them fail, with stacks), queries a database and exits, as seen by the
kernel logger (process, thread, image, sampled profile), a TraceLogging
provider, a manifest-style provider, a classic provider and WPP.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

from pyetwkit._core import __version__, sample_etl_bytes

__all__ = ["sample_etl_path"]


def sample_etl_path() -> str:
    """Path of the sample .etl file, written to the temp directory on first use."""
    data = sample_etl_bytes()
    digest = hashlib.sha256(data).hexdigest()[:12]
    directory = os.path.join(tempfile.gettempdir(), f"pyetwkit-{__version__}")
    path = os.path.join(directory, f"sample-{digest}.etl")
    if not os.path.exists(path):
        os.makedirs(directory, exist_ok=True)
        # Write then rename, so a concurrent reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return path
