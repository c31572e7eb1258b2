"""Exports: which contacts (query), how they are written (fields, writers), the job (service)."""
