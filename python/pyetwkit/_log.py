"""The ``pyetwkit`` logger: drops, undecodable schemas, source failures.

Silent until the application configures logging (a ``NullHandler`` is set in
``pyetwkit/__init__.py``), as a library should be.
"""

import logging

logger = logging.getLogger("pyetwkit")
