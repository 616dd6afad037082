"""TomeHub: a self-hostable personal knowledge hub."""

__version__ = "0.1.0"
