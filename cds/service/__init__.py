"""CDS Hooks 2.0.1 HTTP service.

`create_app(settings)`, `Settings.from_env()`, `serve(host, port, workers)`.
"""

from cds.service.app import create_app
from cds.service.serve import serve
from cds.service.settings import Settings, SettingsError

__all__ = ["Settings", "SettingsError", "create_app", "serve"]
