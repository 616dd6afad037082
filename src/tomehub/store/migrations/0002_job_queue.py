"""The durable job queue's schema (procrastinate), applied from the installed library's own SQL.

Upgrading procrastinate across a schema change adds a migration here with its migration files.
"""

from procrastinate.schema import SchemaManager
from yoyo import step

__depends__ = {"0001_library"}

steps = [step(SchemaManager.get_schema())]
