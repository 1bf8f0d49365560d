"""pyetwkit: Event Tracing for Windows from Python, with a Rust core.

Read recorded .etl files on any OS::

    import pyetwkit

    with pyetwkit.open_etl("trace.etl") as etl:
        for event in etl:
            print(event.timestamp, event.provider_id, event.event_id)
"""

from pyetwkit._core import EtwEvent, LogfileHeader, __version__, count_records
from pyetwkit.etl import EtlFile, open_etl
from pyetwkit.exceptions import EtlFormatError, EtwError, NotAnEtlFileError
from pyetwkit.sample import sample_etl_path

__all__ = [
    "EtlFile",
    "EtlFormatError",
    "EtwError",
    "EtwEvent",
    "LogfileHeader",
    "NotAnEtlFileError",
    "__version__",
    "count_records",
    "open_etl",
    "sample_etl_path",
]
