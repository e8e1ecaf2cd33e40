"""Backups of the database and the file store, restores, and restore drills.

A backup is one directory under ENCLAVE_BACKUP_DIR, written under a temporary name and renamed
only once every part is on disk (`archive.py`). Each part is compressed and encrypted with
AES-256-GCM in chunks (`crypto.py`); the manifest lists every part's SHA-256 and, taken in the
same snapshot as the database dump, every table's row count and checksum (`database.py`), and
every stored file's SHA-256 (`filestore.py`). Writes live in `services.py`, reads in
`selectors.py`.
"""
