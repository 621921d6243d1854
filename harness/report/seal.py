"""The end of `ubc-cert run`: its waivers and operator key read before anything runs, then,
once every artifact is written, the secrets taken out of them and the outcome signed.

`Sealing.prepare` refuses a waiver file or an operator key file that cannot be used (the run
then exits 2 before it starts); `finish` redacts the run folder (redaction.py) and writes its
signed statement (certificate.py): the certificate of a certified run, the result of any
other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import waivers as waivers_module
from harness.beckn.signing import InvalidKey
from harness.candidate import Candidate
from harness.report import certificate, redaction


class SealingError(ValueError):
    """A waiver file or an operator key that cannot be used; names the file and the problem."""


@dataclass
class Sealing:
    candidate: Candidate
    operator: certificate.OperatorKey
    state_dir: Path
    plan: str
    started: float
    waivers: waivers_module.Waivers | None = None

    @classmethod
    def prepare(cls, candidate: Candidate, *, state_dir: Path, started: float,
                tags: str | None, operator_key: str | None, waiver_file: str | None
                ) -> Sealing:
        chosen = None
        if waiver_file is not None:
            try:
                chosen = waivers_module.Waivers.for_candidate(
                    waivers_module.load(waiver_file), candidate.subscriber_id,
                    datetime.now(UTC).date(), source=waiver_file)
            except waivers_module.WaiverError as exc:
                raise SealingError(f"--waivers {exc}") from None
        try:
            operator = certificate.operator_key(operator_key, state_dir)
        except InvalidKey as exc:
            raise SealingError(f"--operator-key: {exc}" if operator_key else
                               f"the operator key in the state folder: {exc} (give "
                               "--operator-key FILE, or move that file away)") from None
        except OSError as exc:
            raise SealingError(f"cannot keep an operator key in {state_dir}: "
                               f"{exc.strerror or exc}") from None
        return cls(candidate, operator, state_dir,
                   certificate.plan_hash(candidate.role, tags), started, chosen)

    def announce(self) -> list[str]:
        """What the operator must know before the run: the key that will sign its outcome
        and every waiver that will not apply."""
        lines = [f"The outcome will be signed with the {self.operator.describe()}"]
        if self.waivers is not None:
            lines.append(f"Waivers from {self.waivers.source}: {len(self.waivers.active)} "
                         f"apply to {self.candidate.subscriber_id}")
            lines += [f"warning: {line}" for line in self.waivers.warnings()]
        return lines

    def report_section(self) -> dict[str, Any] | None:
        """report.json's `waivers`: used, unused and ignored (with why); None without."""
        return self.waivers.as_report() if self.waivers is not None else None

    def secrets(self) -> list[redaction.Secret]:
        found = redaction.kept_keys(self.state_dir)
        found.append(redaction.private_key("the operator's private key",
                                           self.operator.pair.signing_private_key))
        return found + redaction.token("the candidate's client_api_token",
                                       self.candidate.client_api_token)

    def finish(self, run_dir: Path, report: dict[str, Any]) -> list[str]:
        """Redact the run folder, then sign its outcome: call once every artifact is
        written. The lines to print."""
        lines = [f"harness bug: a secret was written into the run's evidence and is redacted "
                 f"now: {leak}" for leak in redaction.scrub(run_dir, self.secrets())]
        sealed = certificate.seal(run_dir, report, self.candidate, self.operator,
                                  plan=self.plan, started=self.started,
                                  waivers_used=self.waivers.used() if self.waivers else [])
        for used in self.waivers.used() if self.waivers else []:
            lines.append(f"Waived: {used['rule']} ({used['findings']} finding(s)), approved by "
                         f"{used['approved_by']} until {used['expires']}: {used['reason']}")
        if sealed.kind == certificate.CERTIFICATE:
            lines.append(f"Certificate: {sealed.path} (signature {sealed.signature.name}, "
                         f"for people {sealed.html.name if sealed.html else '-'}), signed by "
                         f"operator key {self.operator.fingerprint}")
        else:
            lines.append(f"No certificate: the signed result is {sealed.path} (signature "
                         f"{sealed.signature.name}), by operator key {self.operator.fingerprint}")
        lines.append(f"Check it offline: ubc-cert verify-certificate {run_dir} "
                     f"--operator-public-key {self.operator.pair.signing_public_key}")
        return lines
