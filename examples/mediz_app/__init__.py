"""The meDIZ reference app: a Starlette app wired with mediz-infra.

Run it with ``python -m examples.mediz_app``. Every component of mediz-infra is added to this
app as it lands; today it shows the connection layer.
"""

from .app import create_app

__all__ = ["create_app"]
