"""Bringing transcripts in: readers, segmentation, cases, redaction and the importer."""
