"""Export pages: the form, the job page and the download link."""
