"""Ingestion: load files, clean, chunk, embed, write to the store."""
