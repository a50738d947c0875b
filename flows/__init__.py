"""Prefect flows that compose the playbook.

Prefect's server sends anonymous telemetry to the internet by default; holdfast must never talk to anything
but the providers it is configured for, so it is off unless the operator turns it on explicitly. Prefect
reads its settings when it is first imported, and every use of Prefect in holdfast goes through this package.
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
