"""The import pipeline: parsing, mapping, validation, dedup/upsert, journal and rollback."""
