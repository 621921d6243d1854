"""`ubc-cert fuzz`: the Beckn endpoints of a candidate, fed generated requests.

document.py builds the OpenAPI documents of the endpoints a BPP and a BAP serve from the
profile's bundled JSON Schemas (kept in schemas/openapi/); cases.py draws requests from them
with schemathesis, valid and schema-invalid, from a seed; session.py signs and sends each one
and judges the answer with harness/checks/malformed.py; command.py is the command line, the
report and the exit code.
"""
