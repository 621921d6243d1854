"""The harness's identity: keys kept in a state folder across runs and rotated on request, the
addresses its parties bind and are advertised at, and the configuration a candidate gets."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import httpx
import pytest

from harness.addresses import AddressError, Addresses
from harness.beckn.keys import write_key_file
from harness.beckn.signing import InvalidKey, KeyPair
from harness.cli import main
from harness.identity import ConfigFormatError, config_format, describe, render
from harness.network import MockNetwork, NetworkConfig
from harness.selftest import free_port_base
from harness.state import Keyring, default_state_dir, next_key_id
from tests.serving import serving

# -- where parties listen and what they are advertised at -------------------------------------


def test_by_default_a_party_is_advertised_where_it_listens() -> None:
    assert Addresses().advertised("bap", 7403) == "http://127.0.0.1:7403"
    assert Addresses("10.0.0.5").advertised("cds", 7401) == "http://10.0.0.5:7401"
    assert Addresses("fd00::5").advertised("cds", 7401) == "http://[fd00::5]:7401"


@pytest.mark.parametrize("public, party, port, expected", [
    ("http://10.231.0.1", "registry", 7400, "http://10.231.0.1:7400"),
    ("http://10.231.0.1/", "bap", 7403, "http://10.231.0.1:7403"),
    ("https://harness.example:{port}", "cds", 7401, "https://harness.example:7401"),
    ("https://{party}.harness.example", "bap", 7403, "https://bap.harness.example"),
    ("http://h{port}.example:8443", "cds", 7401, "http://h7401.example:8443"),
    ("http://[fd00::1]", "bap", 7403, "http://[fd00::1]:7403"),
])
def test_a_public_url_is_a_template_every_party_fills_in(public: str, party: str, port: int,
                                                        expected: str) -> None:
    assert Addresses("0.0.0.0", public).advertised(party, port) == expected


@pytest.mark.parametrize("host, public, says", [
    ("0.0.0.0", None, "say which one the candidate must use with --public-url"),
    ("::", None, "--public-url"),
    ("127.0.0.1", "http://gw.example:8000", "names one port"),
    ("127.0.0.1", "ftp://gw.example", "http:// or https://"),
    ("127.0.0.1", "gw.example", "http:// or https://"),
    ("127.0.0.1", "http://gw.example/ubc", "only scheme, host and port"),
    ("127.0.0.1", "http://gw.example?x=1", "only scheme, host and port"),
    ("127.0.0.1", "http://{role}.gw.example", "the only placeholders are {port} and {party}"),
    ("127.0.0.1", "http://gw.example:99999", "--public-url http://gw.example:99999"),
])
def test_addresses_the_candidate_could_not_use_are_refused(host: str, public: str | None,
                                                           says: str) -> None:
    with pytest.raises(AddressError) as refused:
        Addresses(host, public)
    assert says in str(refused.value)


def test_one_standalone_party_may_be_advertised_at_a_literal_port() -> None:
    addresses = Addresses("0.0.0.0", "http://gw.example:8000", one_party=True)
    assert addresses.advertised("bpp", 9000) == "http://gw.example:8000"


def test_the_harness_reaches_a_wildcard_bound_party_on_loopback() -> None:
    assert Addresses("0.0.0.0", "http://10.0.0.5").local(7400) == "http://127.0.0.1:7400"
    assert Addresses("10.0.0.5").local(7400) == "http://10.0.0.5:7400"


# -- the state folder and its keys ----------------------------------------------------------


def test_the_state_folder_defaults_to_the_users_cache(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / "ubc-cert"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid by the XDG spec: ignored
    assert default_state_dir() == Path.home() / ".cache" / "ubc-cert"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_state_dir() == Path.home() / ".cache" / "ubc-cert"


def test_keys_are_kept_from_one_run_to_the_next_in_private_files(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    first = Keyring(folder).pair("bap", "bap.mock.ubc")
    again = Keyring(folder).pair("bap", "bap.mock.ubc")
    assert again == first
    assert first.key_id.startswith("bap.mock.ubc-")
    assert stat.S_IMODE((folder / "bap-keys.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert [p.name for p in folder.iterdir()] == ["bap-keys.json"]  # nothing staged is left


def test_fresh_keys_replace_every_pair_once_under_a_new_key_id(tmp_path: Path) -> None:
    kept = Keyring(tmp_path).pair("bap", "bap.mock.ubc")
    rotating = Keyring(tmp_path, rotate=True)
    fresh = rotating.pair("bap", "bap.mock.ubc")
    assert fresh.key_id != kept.key_id
    assert fresh.signing_public_key != kept.signing_public_key
    assert rotating.pair("bap", "bap.mock.ubc") is fresh  # once per run, not per use
    assert Keyring(tmp_path).pair("bap", "bap.mock.ubc") == fresh  # and kept from then on


def test_a_key_id_never_repeats_the_one_it_replaces() -> None:
    now = 1_750_000_000.0
    first = next_key_id("bap.mock.ubc", now=now)
    assert first == "bap.mock.ubc-20250615T150640Z"
    assert next_key_id("bap.mock.ubc", first, now=now) not in (first, "")
    assert next_key_id("bap.mock.ubc", first, now=now + 1) == "bap.mock.ubc-20250615T150641Z"


def test_an_unusable_key_file_is_named_and_fresh_keys_replace_it(tmp_path: Path) -> None:
    (tmp_path / "bap-keys.json").write_text("{not json")
    with pytest.raises(InvalidKey, match=r"bap-keys\.json"):
        Keyring(tmp_path).pair("bap", "bap.mock.ubc")
    write_key_file(KeyPair.generate("someone.else", "k1"), tmp_path / "cds-keys.json")
    with pytest.raises(InvalidKey, match=r"not of 'cds\.mock\.ubc'"):
        Keyring(tmp_path).pair("cds", "cds.mock.ubc")
    assert Keyring(tmp_path, rotate=True).pair("bap", "bap.mock.ubc").subscriber_id == (
        "bap.mock.ubc")


# -- what the candidate is told ------------------------------------------------------------


@pytest.fixture
def built(tmp_path: Path) -> MockNetwork:
    """A certification network, built (ports bound, keys made) but not serving."""
    net = MockNetwork(NetworkConfig(state_dir=tmp_path / "state", roles=("registry", "cds",
                                                                          "bap"),
                                    host="127.0.0.1", public_url="http://harness.test"))
    net.build()
    return net


@pytest.mark.network
def test_everything_the_harness_advertises_uses_the_public_url(built: MockNetwork) -> None:
    try:
        ports = {role: served.port for role, served in built.group.served.items()}
        assert built.participants["registry"].url == f"http://harness.test:{ports['registry']}"
        assert built.participants["registry"].listen == f"127.0.0.1:{ports['registry']}"
        assert built.bap is not None
        assert built.bap.identity.uri == f"http://harness.test:{ports['bap']}/beckn"  # bap_uri
        assert built.bap.config.cds_uri == f"http://harness.test:{ports['cds']}/beckn"
        assert built.store is not None
        records = {r.subscriber_id: r.url for r in built.store.lookup()}
        assert records == {
            "bap.mock.ubc": f"http://harness.test:{ports['bap']}/beckn",
            "other-bap.mock.ubc": f"http://harness.test:{ports['bap']}/beckn/other",
            "cds.mock.ubc": f"http://harness.test:{ports['cds']}/beckn"}
    finally:
        built.stop()


@pytest.mark.network
def test_the_identity_is_written_as_json_toml_and_env(built: MockNetwork) -> None:
    try:
        document = describe(built)
    finally:
        built.stop()
    bap = built.participants["bap"]
    assert document["registry_url"] == built.participants["registry"].url
    assert document["participants"]["bap"] == {
        "subscriber_id": "bap.mock.ubc", "type": "BAP", "key_id": bap.key_id,
        "signing_public_key": bap.public_key, "uri": bap.uri}
    assert set(document["participants"]) == {"bap", "other-bap", "cds"}
    assert json.loads(render(document, "json")) == document
    assert tomllib.loads(render(document, "toml")) == document
    env = dict(line.split("=", 1) for line in render(document, "env").splitlines())
    assert env["UBC_BAP_KEY_ID"] == bap.key_id
    assert env["UBC_OTHER_BAP_SIGNING_PUBLIC_KEY"] == built.participants["other-bap"].public_key
    assert env["UBC_REGISTRY_URL"] == document["registry_url"]
    assert "signing_private_key" not in render(document, "json")


def test_the_config_format_is_chosen_by_the_extension() -> None:
    assert [config_format(f"x{ext}") for ext in (".json", ".TOML", ".env")] == [
        "json", "toml", "env"]
    with pytest.raises(ConfigFormatError, match=r"\.json, \.toml or \.env"):
        config_format("harness.yaml")


@pytest.mark.network
def test_a_kept_registry_forgets_rotated_harness_keys(tmp_path: Path) -> None:
    keys: list[str] = []
    for fresh in (False, True):
        net = MockNetwork(NetworkConfig(state_dir=tmp_path, fresh_keys=fresh,
                                        roles=("registry", "bap")))
        net.build()
        try:
            assert net.store is not None
            keys.append(net.participants["bap"].key_id)
            assert [r.key_id for r in net.store.lookup(subscriber_id="bap.mock.ubc")] == [
                keys[-1]]
        finally:
            net.stop()
    assert keys[0] != keys[1]


@pytest.mark.network
def test_a_run_registry_starts_empty_and_is_not_kept(tmp_path: Path) -> None:
    net = MockNetwork(NetworkConfig(state_dir=tmp_path, keep_registry=False,
                                    roles=("registry", "bap")))
    net.build()
    try:
        assert net.store is not None
        assert {r.subscriber_id for r in net.store.lookup()} == {"bap.mock.ubc",
                                                                  "other-bap.mock.ubc"}
    finally:
        net.stop()
    assert not list(tmp_path.glob("registry.sqlite3*"))


# -- the command line refuses what it cannot honour ------------------------------------------


@pytest.fixture
def candidate_file(tmp_path: Path) -> Path:
    keys = KeyPair.generate("cpo.example", "k1")
    path = tmp_path / "cand.toml"
    path.write_text(f'role = "bpp"\nsubscriber_id = "cpo.example"\nkey_id = "k1"\n'
                    f'signing_public_key = "{keys.signing_public_key}"\n'
                    'uri = "http://127.0.0.1:9/beckn"\n')
    return path


@pytest.mark.parametrize("options, says", [
    (["--host", "0.0.0.0"], "--host 0.0.0.0 listens on every address"),
    (["--public-url", "http://gw.example:8000"], "names one port"),
    (["--emit-config", "harness.yaml"], "name a .json, .toml or .env file"),
])
def test_run_refuses_addresses_and_config_files_it_cannot_honour(
        candidate_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        options: list[str], says: str) -> None:
    code = main(["run", "--role", "bpp", "--candidate", str(candidate_file), "--report-dir",
                 str(tmp_path / "reports"), "--state-dir", str(tmp_path / "state"), *options])
    assert code == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


@pytest.mark.network
def test_run_names_an_unusable_key_file_and_the_way_out(
        candidate_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "bap-keys.json").write_text("{}")
    code = main(["run", "--role", "bpp", "--candidate", str(candidate_file), "--report-dir",
                 str(tmp_path / "reports"), "--state-dir", str(tmp_path / "state")])
    assert code == 2
    err = capsys.readouterr().err
    assert "bap-keys.json: not a usable key file" in err and "--fresh-keys" in err


@pytest.mark.network
def test_serve_advertises_its_public_url_and_writes_its_identity(tmp_path: Path) -> None:
    base = free_port_base()
    with serving("--port-base", str(base), "--public-url", "http://localhost",
                 "--emit-config", "harness.toml", "--state-dir", "state", cwd=tmp_path) as served:
        lines = served.banner
        identity = tomllib.loads((tmp_path / "harness.toml").read_text())
        assert tomllib.loads("".join(lines[lines.index("# The UBC conformance harness, as a "
                                                       "candidate must be configured with "
                                                       "it.\n"):-1])) == identity
        records = httpx.post(f"http://127.0.0.1:{base}/lookup",
                             json={"subscriber_id": "bap.mock.ubc"}, timeout=5).json()
    assert served.process.returncode == 0, served.text
    assert identity["registry_url"] == f"http://localhost:{base}"
    assert identity["participants"]["bap"]["uri"] == f"http://localhost:{base + 3}/beckn"
    assert [r["url"] for r in records] == [f"http://localhost:{base + 3}/beckn"]
    assert records[0]["key_id"] == identity["participants"]["bap"]["key_id"]
