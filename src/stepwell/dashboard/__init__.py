"""The web dashboard: every run step by step, events, functions and apps, and acting on them.

Served by ``stepwell dev`` and ``stepwell start`` at ``/`` on the server's own port, and by
``stepwell ui`` over any Stepwell database. Pages are rendered on the server (Jinja2) and made
live with htmx and server-sent events; both front-end files are vendored in ``static/`` with
their licences, so nothing is fetched at run time and no Node.js is needed. Every page reads
through the read port (``ports/history.py``), paged in SQL, never by loading everything.
"""

from stepwell.dashboard.app import dashboard_routes
from stepwell.dashboard.context import DashboardContext

__all__ = ["DashboardContext", "dashboard_routes"]
