"""Reports of gate results: the terminal table (JSON and HTML arrive with issue #5)."""

from traitgate.report.terminal import format_table

__all__ = ["format_table"]
