"""The import wizard: upload, mapping with a live preview, options, confirm, and the job page."""
