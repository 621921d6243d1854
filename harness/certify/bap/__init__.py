"""Certifying a BAP (a driver's app): the seat of issue D, beside certify/bpp/.

The harness will play registry, CDS, BPP and charger, drive the candidate app through its /v1
client API, and judge every Beckn request it sends with the same checks (harness/checks/) the
BPP role uses. Until then harness.certify.role.BAP says it is not built.
"""
