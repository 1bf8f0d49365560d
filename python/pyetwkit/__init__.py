"""pyetwkit: Event Tracing for Windows from Python, with a Rust core.

Read recorded .etl files on any OS::

    import pyetwkit

    with pyetwkit.open_etl("trace.etl") as etl:
        for event in etl:
            print(event.timestamp, event.provider_id, event.event_id)
"""

from collections.abc import Mapping

from pyetwkit import filters, providers, sigma, testing
from pyetwkit._columnar import SchemaName
from pyetwkit._core import (
    EtwEvent,
    LogfileHeader,
    PropertyView,
    SessionStats,
    __version__,
    live_sessions_supported,
)
from pyetwkit._session import Buffers
from pyetwkit.etl import EtlFile, count_records, open_etl
from pyetwkit.exceptions import (
    EtlFormatError,
    EtwError,
    EtwUnsupportedPlatformError,
    ManifestError,
    NotAnEtlFileError,
    SessionClosedError,
    SessionExistsError,
    SessionLimitError,
    SessionNotFoundError,
)
from pyetwkit.listener import EtwListener
from pyetwkit.manifests import Manifest, load_manifest
from pyetwkit.sample import sample_etl_path
from pyetwkit.streamer import EtwStreamer

# isinstance(event.property_view, Mapping) holds, as for any read-only mapping.
Mapping.register(PropertyView)

__all__ = [
    "Buffers",
    "EtlFile",
    "EtlFormatError",
    "EtwError",
    "EtwEvent",
    "EtwListener",
    "EtwStreamer",
    "EtwUnsupportedPlatformError",
    "LogfileHeader",
    "Manifest",
    "ManifestError",
    "NotAnEtlFileError",
    "PropertyView",
    "SchemaName",
    "SessionClosedError",
    "SessionExistsError",
    "SessionLimitError",
    "SessionNotFoundError",
    "SessionStats",
    "__version__",
    "count_records",
    "filters",
    "live_sessions_supported",
    "load_manifest",
    "open_etl",
    "providers",
    "sample_etl_path",
    "sigma",
    "testing",
]
