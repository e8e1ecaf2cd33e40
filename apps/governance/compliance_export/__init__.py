"""Compliance export: officers export the messages (text, edit history, deletions, files) of
chosen users and channels in a date range as one ZIP, built by a Celery task
(docs/operations.md, "Compliance export")."""
