"""A BAP certified by hand (`ubc-cert run --role bap --interactive`): the harness prompts the
operator step by step and reads what the app shows. Here a script plays the operator against
the reference BAP (its own process): it does each asked action through the app's /v1 API,
which it knows and the harness does not, presses Enter and types what the app showed. A
second run's operator stops answering: bounded, not evaluated with the reason, never a pass.
The terminal's bounded reading, the reading of typed answers and the contract check leaving
typed answers alone are held without a server."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import audit, exitcodes, schemas
from harness.beckn.signing import KeyPair
from harness.candidate import Candidate
from harness.certify.bap.certification import BapCertification
from harness.certify.bap.operator import OperatorConsole, amount, choice, shown_states
from harness.certify.terminal import NoAnswer, Terminal
from harness.checks import client_api
from harness.cli import main
from harness.network import MockNetwork, NetworkConfig
from harness.selftest import ReferenceProcess
from harness.transcript import OUTBOUND, Exchange

RUN_BOUND_S = 60.0
PROMPT = "[operator] "


# -- a scripted operator ----------------------------------------------------------------------

class ScriptedDriver:
    """Does what a prompt asks on the reference BAP's /v1 API, and says what it showed."""

    def __init__(self, api_url: str, token: str) -> None:
        self.http = httpx.Client(base_url=api_url, timeout=20,
                                 headers={"Authorization": f"Bearer {token}"})
        self.transaction_id = ""
        self.bpp_id = ""
        self.order_id = ""
        self.shown: dict[str, Any] = {}
        self.garbled = False  # one unreadable answer, to be asked again

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"X-Transaction-Id": self.transaction_id, "X-Bpp-Id": self.bpp_id} \
            if self.transaction_id else {}
        answer = self.http.request(method, path, json=body, headers=headers)
        assert answer.status_code == 200, (method, path, answer.text)
        self.transaction_id = answer.headers.get("x-transaction-id", self.transaction_id)
        return answer.json()

    def act(self, instruction: str) -> None:
        if found := re.search(r"within (\d+) m of ([-\d.]*\d),([-\d.]*\d)", instruction):
            meters, lat, lon = found.groups()
            self.transaction_id = ""  # a new search, a new transaction
            result = self._call("POST", "/search", {
                "geo_coordinates": [float(lat), float(lon)], "distance_meters": float(meters)})
            self.bpp_id = result["catalogs"][0]["bpp_id"]
        elif found := re.search(r"estimate of ([\d.]+) kWh at connector (\S+) .*of EVSE (\S+)",
                                instruction):
            kwh, connector, evse = found.groups()
            self.shown = self._call("POST", "/estimate", {
                "evse_id": evse, "connector_id": connector, "energy": {"value": float(kwh)},
                "vehicle": {"make": "Tata", "model": "Nexon EV", "type": "4-wheeler"}})
            self.order_id = self.shown["order"]["id"]
        elif found := re.search(r"pay for .* by (\w+)", instruction):
            self.shown = self._call("POST", f"/orders/{self.order_id}/payment",
                                    {"payment_method": found[1]})
        elif "start charging" in instruction:
            self._call("PUT", f"/orders/{self.order_id}/start")
        elif " open " in instruction:
            self.shown = self._call("GET", f"/orders/{self.order_id}")
        elif "stop charging" in instruction:
            self.shown = self._call("PUT", f"/orders/{self.order_id}/stop")
        elif found := re.search(r"rate .* (\d) out of 5", instruction):
            self._call("POST", f"/orders/{self.order_id}/rating", {"value": int(found[1])})
        elif "support" in instruction:
            self._call("GET", f"/orders/{self.order_id}/support")
        else:
            raise AssertionError(f"the script cannot do this: {instruction}")

    def answer(self, question: str) -> str:
        if "What total" in question:
            if not self.garbled:
                self.garbled = True
                return "about two hundred"
            return f"INR {self.shown['amount']['value']}"
        if "What amount" in question:
            return str(self.shown["amount"])
        if "What does the app bill" in question:
            return str(sum(line["value"] for line in self.shown["price_components"]
                           if line["type"] != "REFUND"))
        if status := re.search(r"What (order|payment|charging) status", question):
            return str(self.shown[status[1]]["status"]).lower()
        raise AssertionError(f"the script cannot answer this: {question}")


@pytest.fixture(scope="module")
def reference_bap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceProcess]:
    with ReferenceProcess(tmp_path_factory.mktemp("interactive"), role="bap") as reference:
        yield reference


def _without_client_api(reference: ReferenceProcess) -> tuple[Path, str, str]:
    """A candidate file of the reference BAP without its client API; the API's URL and token
    (for the script only)."""
    text = reference.candidate.read_text()
    url = re.search(r'^client_api_url = "(.*)"$', text, re.M)
    token = re.search(r'^client_api_token = "(.*)"$', text, re.M)
    assert url and token, text
    by_hand = reference.workdir / "by-hand.toml"
    by_hand.write_text("".join(line for line in text.splitlines(keepends=True)
                               if not line.startswith("client_api_")))
    return by_hand, url[1], token[1]


class Run:
    """`ubc-cert run --interactive` in its own process, its output read line by line."""

    def __init__(self, reference: ReferenceProcess, candidate: Path, *options: str) -> None:
        self.reports = reference.workdir / "reports"
        self.already = set(self.reports.glob("*/report.json"))
        command = [sys.executable, "-m", "harness.cli", "run", "--role", "bap", "--candidate",
                   str(candidate), "--report-dir", str(self.reports), "--ttl", "PT2S",
                   "--port-base", str(reference.base), "--wait", "10", "--tags", "walk_in",
                   "--interactive", *options]
        if reference.state_dir is not None:
            command += ["--state-dir", str(reference.state_dir)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.deadline = time.monotonic() + RUN_BOUND_S

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def prompts(self) -> Iterator[str]:
        """Every prompt, until the run ends (bounded)."""
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, self.deadline - time.monotonic()))
            except queue.Empty:
                self.process.kill()
                raise AssertionError("the run did not end in time:\n"
                                     + "".join(self.output)) from None
            if line is None:
                return
            self.output.append(line)
            if PROMPT in line:
                yield line.partition(PROMPT)[2].strip()

    def type(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:  # a failed test leaves no run behind
            self.process.kill()
            self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    def finish(self) -> tuple[int, dict[str, Any], Path]:
        code = self.process.wait(max(1.0, self.deadline - time.monotonic()))
        [report] = sorted(set(self.reports.glob("*/report.json")) - self.already)
        return code, json.loads(report.read_text()), report.parent / "transcript.ndjson"


@pytest.mark.network
def test_a_walk_in_worked_by_hand_passes(reference_bap: ReferenceProcess) -> None:
    candidate, url, token = _without_client_api(reference_bap)
    driver = ScriptedDriver(url, token)
    asked = []
    with Run(reference_bap, candidate, "--operator-timeout", "20") as run:
        for prompt in run.prompts():
            asked.append(prompt)
            if "Press Enter when the app" in prompt:
                driver.act(prompt)
                run.type("")
            elif "?" in prompt:
                run.type(driver.answer(prompt))
        code, report, transcript = run.finish()
    output = "".join(run.output)
    assert code == exitcodes.PARTIAL_PASSED, output  # the walk-in only: not a certification
    assert report["verdict"] == "partial_passed"
    assert [s["status"] for s in report["scenarios"]] == ["passed"], report["scenarios"]
    assert not [f for f in report["findings"] if f["severity"] == "error"], report["findings"]
    assert report["options"]["interactive"] is True
    assert any("estimate of 20 kWh at connector" in p and "of EVSE" in p for p in asked), asked
    assert any("is not a number" in p for p in asked), asked  # the garbled total, asked again

    operator = [Exchange.from_record(json.loads(line))
                for line in transcript.read_text().splitlines()
                if '"party": "operator"' in line]
    said = [turn for e in operator for turn in json.loads(e.request_body)["dialogue"]]
    # one exchange per thing the operator was asked to do in the app
    tasks = [p for p in asked if "Press Enter when the app" in p]
    assert len(operator) == len(tasks) >= 8 and all(e.status == 200 for e in operator), operator
    assert asked[0].startswith("You are the driver")
    assert set(asked[1:]) <= {t["said"] for t in said}, (asked, said)
    assert any("What total" in t["said"] and t["answered"].startswith("INR")
               for t in said), said
    assert not any('"party": "client-api"' in line
                   for line in transcript.read_text().splitlines())
    audited = audit.audit([str(transcript.parent)], schemas.load())  # offline, clean as well
    assert audited.counts["errors"] == 0 and audited.client_calls == len(operator), audited


@pytest.mark.network
def test_an_operator_who_stops_answering_leaves_the_walk_in_not_evaluated(
        reference_bap: ReferenceProcess) -> None:
    candidate, _, _ = _without_client_api(reference_bap)
    started = time.monotonic()
    with Run(reference_bap, candidate, "--operator-timeout", "1") as run:
        asked = list(run.prompts())  # nobody answers
        code, report, _ = run.finish()
    assert time.monotonic() - started < 30, "".join(run.output)
    assert code == exitcodes.FAILED, "".join(run.output)
    [scenario] = report["scenarios"]
    assert scenario["status"] == "not evaluated", scenario
    assert "the operator stopped answering" in scenario["message"], scenario
    assert "awaited: Enter once the app lists the chargers it found" in scenario["message"]
    assert len([p for p in asked if "Press Enter when" in p]) == 1, asked  # asked once, not again


def test_interactive_is_refused_for_a_bpp_and_a_bap_needs_an_api_or_an_operator(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = KeyPair.generate("app.example", "k1").signing_public_key
    common = ('subscriber_id = "app.example"\nkey_id = "k1"\nuri = "http://127.0.0.1:9/beckn"\n'
              f'signing_public_key = "{key}"\n')
    bap, bpp = tmp_path / "bap.toml", tmp_path / "bpp.toml"
    bap.write_text('role = "bap"\n' + common)
    bpp.write_text('role = "bpp"\n' + common)

    def refused(*args: str) -> str:
        """The run refuses before anything starts (exit 2); what it says."""
        assert main(["run", *args]) == exitcodes.COULD_NOT_RUN
        return capsys.readouterr().err
    no_api = refused("--role", "bap", "--candidate", str(bap))
    assert "gives no client_api_url and no client_api_token" in no_api
    assert "--interactive" in no_api
    assert "--interactive is for a BAP" in refused("--role", "bpp", "--candidate", str(bpp),
                                                   "--interactive")
    assert "give --interactive too" in refused("--role", "bap", "--candidate", str(bap),
                                               "--operator-timeout", "5")
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--role", "bap", "--candidate", str(bap), "--interactive",
              "--operator-timeout", "0"])
    assert exit_.value.code == exitcodes.COULD_NOT_RUN
    assert "--operator-timeout" in capsys.readouterr().err


# -- without a server -------------------------------------------------------------------------

def _terminal(typed: str, bound: float = 2.0) -> tuple[Terminal, io.StringIO]:
    said = io.StringIO()
    return Terminal(io.StringIO(typed), said, answer_within_s=bound), said


def test_the_terminal_reads_lines_and_reports_the_end_of_input() -> None:
    terminal, said = _terminal("\n236.5\n")
    terminal.say("Press Enter")
    assert terminal.read_line() == ""
    assert terminal.read_line() == "236.5"
    with pytest.raises(NoAnswer, match="closed"):
        terminal.read_line()
    with pytest.raises(NoAnswer, match="closed"):  # and again, at once
        terminal.read_line()
    assert said.getvalue() == "Press Enter\n"


def test_the_terminal_waits_for_an_answer_with_a_bound() -> None:
    read, write = os.pipe()
    with os.fdopen(read, "r") as reader, os.fdopen(write, "w") as writer:
        terminal = Terminal(reader, io.StringIO(), answer_within_s=0.2)
        started = time.monotonic()
        with pytest.raises(NoAnswer, match=r"no answer within 0.2 s"):
            terminal.read_line()
        assert time.monotonic() - started < 2
        writer.write("late\nnext\n")
        writer.flush()
        deadline = time.monotonic() + 2
        while terminal._lines.qsize() < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # another thread reads the pipe: nothing to wait on here
        terminal.discard_typeahead()  # typed before the next prompt: not its answer
        writer.write("answer\n")
        writer.flush()
        assert terminal.read_line() == "answer"


def test_a_terminal_needs_a_positive_answer_bound() -> None:
    with pytest.raises(ValueError, match="positive"):
        Terminal(io.StringIO(), io.StringIO(), answer_within_s=0)


def test_amounts_are_read_as_an_app_shows_them() -> None:
    assert amount("236.5") == 236.5
    assert amount("INR 1,236.50") == 1236.5
    assert amount("₹ 12") == 12.0
    assert amount(" 99 INR ") == 99.0
    assert amount("about two hundred") is None
    assert amount("") is None
    assert amount("12 or 13") is None


def test_a_choice_is_read_whatever_its_case_and_spacing() -> None:
    states = shown_states()
    assert states["order"] == ("quoted_price", "ACTIVE", "COMPLETED", "CANCELLED")
    assert states["payment"] == ("PAID", "PENDING", "FAILED", "REFUNDED")
    assert states["charging"] == ("ACTIVE", "COMPLETED", "IDLE", "STOPPED")
    assert choice("quoted price", states["order"]) == "quoted_price"
    assert choice("paid", states["payment"]) == "PAID"
    assert choice("charging", states["charging"]) is None
    assert choice(" ", states["charging"]) is None


def test_what_an_operator_typed_is_not_held_to_the_contract_shape() -> None:
    """UBC-API-003 judges the app's /v1 answers; an operator's answers are not the app's."""
    def answered(party: str) -> Exchange:
        exchange = Exchange("x000001", OUTBOUND, party, "POST", "operator:/v1/estimate", {},
                            b"", 0.0, 0.0)
        exchange.status, exchange.response_body = 200, b'{"order": {"id": "t1"}}'
        return exchange
    assert client_api.answers_in_contract_shape(answered(client_api.OPERATOR)) == []
    [finding, *_] = client_api.answers_in_contract_shape(answered("client-api"))
    assert finding.rule == "UBC-API-003"


def test_a_run_driven_by_hand_does_not_evaluate_scenarios_that_need_the_client_api(
        tmp_path: Path) -> None:
    """The fuzzing of the /v1 API (tag client_api) needs the API; the walk-in does not."""
    key = KeyPair.generate("app.example", "k1").signing_public_key
    app = Candidate(role="bap", subscriber_id="app.example", key_id="k1",
                    signing_public_key=key, uri="http://127.0.0.1:9/beckn")
    network = MockNetwork(NetworkConfig(roles=("registry", "cds", "bpp", "charger"),
                                        state_dir=tmp_path))
    try:  # never started: the run's state only
        by_hand = BapCertification(network, app, operator=_terminal("")[0])
        assert isinstance(by_hand.client, OperatorConsole)
        assert "has none" in by_hand.unavailable({"client_api", "bap"})
        assert by_hand.unavailable({"walk_in"}) == ""
        with pytest.raises(ValueError, match="client_api_url"):  # neither API nor operator
            BapCertification(network, app)
    finally:
        network.stop()
