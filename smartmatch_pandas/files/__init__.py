"""Bytes and tables on disk: spools, private files written atomically, contact-list files."""
