"""The library version, kept in one place for metadata.json and the CLI."""

__version__ = "0.1.0"
