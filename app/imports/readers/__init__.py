"""Streaming readers for CSV/TSV, XLSX and JSON/NDJSON; import them through app.imports.parsing."""
