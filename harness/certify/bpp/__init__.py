"""Certifying a BPP: the harness plays registry, CDS and BAP; the stories drive the candidate."""
