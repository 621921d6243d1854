"""The signed outcome of a run: `certificate.json` for a certified run, `result.json` otherwise.

Both are one statement of the same form — who was certified (subscriber id, role, key id and
fingerprint), against what (profile, plan hash, harness version), when, with what outcome
(verdict, counts by rule and severity, the waivers used) and the SHA-256 of the evidence
(report.json, transcript.ndjson) — signed by the operator's ed25519 key. Only a certified run
gets a certificate (with `certificate.html`, for people); any other run gets a result, so a
failure is as attributable as a success, and neither can pass for the other.

Canonical JSON, which is what is signed: the statement serialised with keys sorted at every
level, no insignificant whitespace (`,` and `:` separators), non-ASCII characters as UTF-8,
no trailing newline, and no floating-point numbers (every number in a statement is an
integer). The signature (`certificate.sig`, `result.sig`) is the base64 of the 64-byte
detached ed25519 signature over exactly the bytes of the statement file.

`verify` checks a run folder offline: the statement is canonical, its kind fits its name, the
signature holds for the operator key it names (or the one the verifier expects), and every
file it hashes is unchanged — and says which of these does not hold.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

import harness
from harness.beckn import signing
from harness.beckn import time as wire_time
from harness.beckn.keys import read_key_file
from harness.candidate import Candidate
from harness.report import plan
from harness.state import Keyring

CERTIFICATE, RESULT = "certificate", "result"
FORMAT = "ubc-conformance/statement/1"
CERTIFIED = "certified"  # the verdict (harness/certify/verdict.py) that earns a certificate
HASHED = ("report.json", "transcript.ndjson")
OPERATOR_ROLE, OPERATOR_ID = "operator", "operator.ubc-cert"  # <state>/operator-keys.json
TEMPLATES = Path(__file__).resolve().parent / "templates"


def canonical(value: Any) -> bytes:
    """The canonical JSON of `value` (see the module's docstring): what is signed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def fingerprint(public_key_b64: str) -> str:
    """`sha256:<hex>` of the 32 bytes of an ed25519 public key."""
    return _fingerprint(signing.load_public_key(public_key_b64))


def _fingerprint(key: VerifyKey) -> str:
    return "sha256:" + hashlib.sha256(bytes(key)).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plan_hash(role: str, tags: str | None) -> str:
    """What the run was held to: report.json's plan hash (harness/report/plan.py: the role's
    feature files and the rule catalogue), and the tag selection when there was one."""
    base = plan.of_role(role).sha256
    if not tags:
        return "sha256:" + base
    return "sha256:" + hashlib.sha256(f"{base}\0tags={tags}".encode()).hexdigest()


def harness_version() -> str:
    return harness.version()


# -- the operator's key -------------------------------------------------------------------------


@dataclass(frozen=True)
class OperatorKey:
    """The key that signs a run's statement, and where it came from."""

    pair: signing.KeyPair
    path: Path
    created: bool = False  # made just now in the state folder

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.pair.signing_public_key)

    def describe(self) -> str:
        made = "created now, " if self.created else ""
        return (f"operator key {self.path} ({made}key id {self.pair.key_id}): fingerprint "
                f"{self.fingerprint}, public key {self.pair.signing_public_key}")

    def sign(self, data: bytes) -> str:
        signature = signing.load_private_key(self.pair.signing_private_key).sign(data).signature
        return base64.b64encode(signature).decode("ascii")

    def as_dict(self) -> dict[str, str]:
        return {"subscriber_id": self.pair.subscriber_id, "key_id": self.pair.key_id,
                "public_key": self.pair.signing_public_key, "fingerprint": self.fingerprint}


def operator_key(key_file: str | Path | None, state_dir: Path) -> OperatorKey:
    """The key of `--operator-key FILE` (as `ubc-cert keys new --out FILE` writes it), else
    the operator key kept in the state folder, made on first use (mode 0600). InvalidKey
    names a file that cannot be used."""
    if key_file is not None:
        return OperatorKey(read_key_file(key_file), Path(key_file))
    keyring = Keyring(state_dir)  # never rotated with the parties' keys: verifiers pin it
    path = keyring.path(OPERATOR_ROLE)
    existed = path.exists()
    return OperatorKey(keyring.pair(OPERATOR_ROLE, OPERATOR_ID), path, created=not existed)


# -- the statement ------------------------------------------------------------------------------


def counts(report: dict[str, Any]) -> dict[str, Any]:
    """Every finding of the report counted by rule and by severity; a waived or not evaluated
    finding counts as such, not under its severity."""
    by_rule: dict[str, dict[str, int]] = {}
    by_severity: dict[str, int] = {}
    for finding in report.get("findings", []):
        status = finding.get("status", "failed")
        key = finding.get("severity", "") if status == "failed" else status
        key = key.replace("-", "_")
        by_rule.setdefault(finding["rule"], {})
        by_rule[finding["rule"]][key] = by_rule[finding["rule"]].get(key, 0) + 1
        by_severity[key] = by_severity.get(key, 0) + 1
    return {"by_rule": by_rule, "by_severity": by_severity}


def statement(run_dir: Path, report: dict[str, Any], candidate: Candidate, operator: OperatorKey,
              *, plan: str, started: float, ended: float,
              waivers_used: list[dict[str, Any]]) -> dict[str, Any]:
    """The statement of a finished run whose report.json and transcript.ndjson are written."""
    summary = report.get("summary", {})
    return {
        "format": FORMAT,
        "kind": CERTIFICATE if report.get("verdict") == CERTIFIED else RESULT,
        "run_id": run_dir.name,
        "candidate": {"subscriber_id": candidate.subscriber_id, "role": candidate.role,
                      "key_id": candidate.key_id,
                      "signing_public_key": candidate.signing_public_key,
                      "key_fingerprint": fingerprint(candidate.signing_public_key)},
        "profile": report.get("profile", ""),
        "plan_hash": plan,
        "harness_version": harness_version(),
        "started": wire_time.format(started),
        "ended": wire_time.format(ended),
        "verdict": report.get("verdict", ""),
        "reason": report.get("reason", ""),
        "scenarios": {name: int(summary.get(name, 0))
                      for name in ("scenarios", "passed", "failed", "not_evaluated")},
        "counts": counts(report),
        "waivers": waivers_used,
        "sha256": {name: sha256_file(run_dir / name) for name in HASHED},
        "operator": operator.as_dict(),
        "issued": wire_time.format(time.time()),
    }


@dataclass(frozen=True)
class Sealed:
    kind: str
    path: Path  # certificate.json or result.json
    signature: Path
    html: Path | None = None


def seal(run_dir: Path, report: dict[str, Any], candidate: Candidate, operator: OperatorKey, *,
         plan: str, started: float, waivers_used: list[dict[str, Any]] | None = None
         ) -> Sealed:
    """Write the run's signed statement (and, for a certificate, certificate.html): the last
    thing a run writes, after every file it hashes."""
    body = statement(run_dir, report, candidate, operator, plan=plan, started=started,
                     ended=time.time(), waivers_used=waivers_used or [])
    kind = body["kind"]
    path, signature = run_dir / f"{kind}.json", run_dir / f"{kind}.sig"
    data = canonical(body)
    path.write_bytes(data)
    signed = operator.sign(data)
    signature.write_text(signed, encoding="ascii")
    html = None
    if kind == CERTIFICATE:
        html = run_dir / "certificate.html"
        html.write_text(render_html(body, signed), encoding="utf-8")
    return Sealed(kind, path, signature, html)


def render_html(body: dict[str, Any], signature_b64: str) -> str:
    """certificate.html: the certificate for people, one self-contained file."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape  # only when sealing

    environment = Environment(loader=FileSystemLoader(TEMPLATES),
                              autoescape=select_autoescape(default=True, default_for_string=True))
    return environment.get_template("certificate.html.j2").render(
        c=body, signature=signature_b64)


# -- verification -------------------------------------------------------------------------------


def _table(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    return value if isinstance(value, dict) else {}


class Unreadable(Exception):
    """The run folder holds nothing to verify, or cannot be read: no judgement was made."""


@dataclass
class Verification:
    """What `verify` found: `problems` empty means every check held."""

    kind: str
    statement: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """What `ubc-cert verify-certificate` prints: what was checked, what does not hold,
        and the conclusion last."""
        body = self.statement
        candidate = _table(body, "candidate")
        verdict = body.get("verdict", "?")
        lines = [f"{self.kind}.json: run {body.get('run_id', '?')} of "
                 f"{candidate.get('subscriber_id', '?')} ({candidate.get('role', '?')}), "
                 f"verdict {verdict}"]
        lines += [f"  ok    {line}" for line in self.checked]
        lines += [f"  FAIL  {line}" for line in self.problems]
        if self.problems:
            lines.append(f"INVALID: {len(self.problems)} problem(s)")
        elif self.kind == CERTIFICATE:
            lines.append("VALID certificate")
        else:
            lines.append(f"VALID signed result, not a certificate (verdict {verdict})")
        return lines


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Unreadable(f"{path}: cannot read: {exc.strerror or exc}") from None


def verify(run_dir: Path, expected_public_key: str | None = None) -> Verification:
    """Check a run folder's statement offline. `expected_public_key` (base64): the operator key
    it must be signed with; without it, the key the statement names. Unreadable when there is
    nothing to verify; InvalidKey for an expected key that is no key."""
    expected = signing.load_public_key(expected_public_key) if expected_public_key else None
    if not run_dir.is_dir():
        raise Unreadable(f"{run_dir}: not a folder")
    present = [kind for kind in (CERTIFICATE, RESULT) if (run_dir / f"{kind}.json").exists()]
    if not present:
        raise Unreadable(f"{run_dir}: holds neither certificate.json nor result.json")
    kind = present[0]
    name = f"{kind}.json"
    raw = _read(run_dir / name) or b""
    result = Verification(kind)
    if len(present) > 1:
        result.problems.append("both certificate.json and result.json: a run is sealed once, "
                               "as certified or not")
    try:
        body = json.loads(raw.decode("utf-8"))
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
    except (UnicodeDecodeError, ValueError) as exc:
        result.problems.append(f"{name}: not a JSON statement ({exc})")
        body = {}
    result.statement = body
    if body and canonical(body) != raw:
        result.problems.append(f"{name}: not in canonical form (sorted keys, no whitespace): it "
                               "was not written by the harness as signed")
    if body:
        _check_kind(result, name, body)
    key = _signing_key(result, name, body, expected)
    _check_signature(result, run_dir, kind, raw, key)
    if body:
        _check_hashes(result, run_dir, name, body)
    return result


def _check_kind(result: Verification, name: str, body: dict[str, Any]) -> None:
    if body.get("format") != FORMAT:
        result.problems.append(f"{name}: format {body.get('format')!r}, expected {FORMAT!r}")
    if body.get("kind") != result.kind:
        result.problems.append(f"{name}: says it is a {body.get('kind')!r}, not a "
                               f"{result.kind!r}")
    if result.kind == CERTIFICATE and body.get("verdict") != CERTIFIED:
        result.problems.append(f"{name}: verdict {body.get('verdict')!r}: only a certified run "
                               "has a certificate")


def _signing_key(result: Verification, name: str, body: dict[str, Any],
                 expected: VerifyKey | None) -> VerifyKey | None:
    """The key to verify with: the expected one when given (and the statement must name it),
    else the one the statement names (and its fingerprint must be its own)."""
    operator = _table(body, "operator")
    named_b64, named = operator.get("public_key"), None
    if not isinstance(named_b64, str):
        if body:
            result.problems.append(f"{name}: names no operator public key")
    else:
        try:
            named = signing.load_public_key(named_b64)
        except signing.InvalidKey as exc:
            result.problems.append(f"{name}: operator public key: {exc}")
    if named is not None and operator.get("fingerprint") != _fingerprint(named):
        result.problems.append(f"{name}: operator fingerprint {operator.get('fingerprint')!r} "
                               f"is not that of its public key ({_fingerprint(named)})")
    if expected is None:
        return named
    if named is not None and bytes(named) != bytes(expected):
        result.problems.append(f"operator key: {name} names key {_fingerprint(named)}, not the "
                               f"expected {_fingerprint(expected)}")
    return expected


def _check_signature(result: Verification, run_dir: Path, kind: str, raw: bytes,
                     key: VerifyKey | None) -> None:
    sig_name = f"{kind}.sig"
    text = _read(run_dir / sig_name)
    if text is None:
        result.problems.append(f"{sig_name}: missing: the statement is unsigned")
        return
    try:
        signature = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    # Exactly the base64 the harness writes: no byte of the file may change unnoticed.
    if len(signature) != 64 or base64.b64encode(signature) != text:
        result.problems.append(f"{sig_name}: not the base64 of a 64-byte ed25519 signature")
        return
    if key is None:
        result.problems.append(f"{sig_name}: cannot be checked: no operator key to check it "
                               "with")
        return
    fp = _fingerprint(key)
    try:
        key.verify(raw, signature)
    except BadSignatureError:
        result.problems.append(f"{sig_name}: signature invalid: {kind}.json is not signed by "
                               f"operator key {fp} as it stands")
        return
    result.checked.append(f"signature by operator key {fp}")


def _check_hashes(result: Verification, run_dir: Path, name: str, body: dict[str, Any]) -> None:
    hashes = body.get("sha256")
    if not isinstance(hashes, dict) or set(hashes) != set(HASHED):
        result.problems.append(f"{name}: sha256 must name exactly {', '.join(HASHED)}")
        hashes = hashes if isinstance(hashes, dict) else {}
    for file_name in HASHED:
        expected = hashes.get(file_name)
        if not isinstance(expected, str):
            continue
        path = run_dir / file_name
        if not path.is_file():
            result.problems.append(f"{file_name}: missing (expected sha256 {expected})")
            continue
        try:
            actual = sha256_file(path)
        except OSError as exc:
            raise Unreadable(f"{path}: cannot read: {exc.strerror or exc}") from None
        if actual != expected:
            result.problems.append(f"{file_name}: sha256 expected {expected}, actual {actual}")
        else:
            result.checked.append(f"{file_name} sha256 {actual}")
