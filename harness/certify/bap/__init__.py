"""Certifying a BAP (a driver's app), issue D, beside certify/bpp/.

The harness plays registry, CDS, BPP and charger (role.py), drives the candidate app through
its /v1 client API (client.py) along the user stories (story.py), and judges every Beckn
request it sends with the checks of harness/checks/ (certification.py).
"""
