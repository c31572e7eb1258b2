"""In-app notifications: what finished, in the header and on the dashboard."""
