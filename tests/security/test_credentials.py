"""Credential store: round trips into real venue signers, tamper detection, rotation under load."""

from __future__ import annotations

import copy
import json
import pickle
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.app.config import engine_tenant_config
from arbiter.security.backends import FileBackend
from arbiter.security.credentials import (
    CredentialError,
    CredentialNotFound,
    CredentialRef,
    CredentialStore,
    CredentialTamperError,
    DirectoryEnvelopeRepo,
    Envelope,
    KeyVersionInUse,
    MasterKeyRing,
    UnknownKeyVersion,
    derive_tenant_kek,
    kalshi_signer,
    polymarket_venue_credentials,
)
from arbiter.security.secrets import REDACTED, KalshiCredentials, PolymarketCredentials, Secret, SecretWiped
from arbiter.venues.kalshi.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, verify_message


def _rsa_pem() -> tuple[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[str, Any]:
    return _rsa_pem()


@pytest.fixture
def backend(tmp_path: Path) -> FileBackend:
    return FileBackend(tmp_path / "secrets")


@pytest.fixture
def store(tmp_path: Path, backend: FileBackend) -> CredentialStore:
    return CredentialStore.open(tmp_path / "store", backend, create=True)


def _poly(vectors: dict[str, Any]) -> PolymarketCredentials:
    l2 = vectors["polymarket"]["l2_credentials"]
    return PolymarketCredentials(
        Secret(vectors["polymarket"]["test_key"]["private_key"]),
        Secret(l2["apiKey"]),
        Secret(l2["secret"]),
        Secret(l2["passphrase"]),
    )


def _envelope_path(store: CredentialStore, tenant: str, name: str) -> Path:
    return Path(store._repo.root) / tenant / f"{name}.json"


# --- Secret types ------------------------------------------------------------------------------


def test_secret_never_formats_its_value() -> None:
    s = Secret("hunter2-very-secret", "db")
    shown = [
        repr(s),
        str(s),
        f"{s}",
        f"{s!r}",
        "%s" % s,  # noqa: UP031 - the old-style path is exactly what is under test
        "{}".format(s),  # noqa: UP032
        f"{s:>40}",
        repr([s]),
        repr({"k": s}),
    ]
    for text in shown:
        assert "hunter2" not in text
        assert REDACTED in text
    assert s.reveal() == b"hunter2-very-secret"
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(TypeError):
        json.dumps({"s": s})
    with pytest.raises(TypeError):
        hash(s)
    assert copy.deepcopy(s) == s and copy.deepcopy(s) is not s
    assert s != Secret("other")


def test_secret_wipe_and_context_manager() -> None:
    with Secret(b"abc", "x") as s:
        assert s.reveal() == b"abc"
    assert s.wiped
    with pytest.raises(SecretWiped):
        s.reveal()


def test_credential_dataclasses_hide_secret_fields(
    rsa_pair: tuple[str, Any], venue_vectors: dict[str, Any]
) -> None:
    pem, _ = rsa_pair
    k = KalshiCredentials("key-123", Secret(pem))
    p = _poly(venue_vectors)
    assert "PRIVATE KEY" not in repr(k) and "key-123" in repr(k)
    assert venue_vectors["polymarket"]["test_key"]["private_key"][2:12] not in repr(p)
    with pytest.raises(TypeError):
        pickle.dumps(k)


# --- round trips ---------------------------------------------------------------------------------


def test_kalshi_round_trip_signs_verifiably(store: CredentialStore, rsa_pair: tuple[str, Any]) -> None:
    pem, public = rsa_pair
    info = store.put_kalshi("alice", KalshiCredentials("key-abc", Secret(pem)))
    assert (info.tenant_id, info.name, info.key_version, info.generation) == ("alice", "kalshi", 1, 1)
    creds = store.get_kalshi("alice")
    assert creds.key_id == "key-abc" and creds.private_key_pem.reveal_str() == pem
    signer = kalshi_signer(creds)
    headers = signer.headers("GET", "/trade-api/v2/portfolio/balance?x=1", now_ms=1_700_000_000_000)
    assert verify_message(
        public, headers[HEADER_TIMESTAMP], "GET", "/trade-api/v2/portfolio/balance", headers[HEADER_SIGNATURE]
    )
    creds.wipe()
    # At rest the PEM is nowhere in the file.
    raw = _envelope_path(store, "alice", "kalshi").read_text()
    body = pem.splitlines()[5]
    assert body not in raw and "PRIVATE KEY" not in raw


def test_polymarket_round_trip_gives_the_right_address(
    store: CredentialStore, venue_vectors: dict[str, Any]
) -> None:
    store.put_polymarket("bob", _poly(venue_vectors))
    creds = store.get_polymarket("bob")
    venue = polymarket_venue_credentials(creds)
    assert venue.signer.address == venue_vectors["polymarket"]["test_key"]["address"]
    assert (
        venue.api is not None
        and venue.api.passphrase == venue_vectors["polymarket"]["l2_credentials"]["passphrase"]
    )
    raw = _envelope_path(store, "bob", "polymarket").read_text()
    assert venue_vectors["polymarket"]["test_key"]["private_key"][2:] not in raw


def test_put_bumps_generation_and_list_shows_no_values(store: CredentialStore) -> None:
    store.put_secret("alice", "db", Secret("pw-1"))
    info = store.put_secret("alice", "db", Secret("pw-2"))
    assert info.generation == 2
    assert store.get(CredentialRef("alice", "db")).reveal() == b"pw-2"
    listed = store.list()
    assert [(i.tenant_id, i.name, i.generation) for i in listed] == [("alice", "db", 2)]
    assert "pw-2" not in repr(listed) and "pw-2" not in repr(store)
    with pytest.raises(CredentialNotFound):
        store.get_secret("alice", "nope")
    with pytest.raises(CredentialError):
        store.get_kalshi("alice", "db")  # wrong kind of bundle
    assert store.delete("alice", "db") and store.list() == []


def test_tenant_keys_are_distinct_and_deterministic() -> None:
    master = Secret(bytes(range(32)))
    a1, a2, b = (derive_tenant_kek(master, t) for t in ("alice", "alice", "bob"))
    assert a1 == a2 and a1 != b and len(a1) == 32
    other = Secret(bytes(range(1, 33)))
    assert derive_tenant_kek(other, "alice") != a1


# --- tampering -----------------------------------------------------------------------------------


def _edit(path: Path, **changes: Any) -> None:
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


def _flip_b64(text: str, index: int = 5) -> str:
    import base64

    raw = bytearray(base64.b64decode(text))
    raw[index % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "wrapped_dek", "wrap_nonce"])
def test_modified_bytes_fail_authentication(store: CredentialStore, field: str) -> None:
    store.put_secret("alice", "kalshi", Secret("payload-123"))
    path = _envelope_path(store, "alice", "kalshi")
    doc = json.loads(path.read_text())
    _edit(path, **{field: _flip_b64(doc[field])})
    with pytest.raises(CredentialTamperError):
        store.get_secret("alice", "kalshi")


def test_truncated_ciphertext_and_garbage_fail_cleanly(store: CredentialStore) -> None:
    store.put_secret("alice", "kalshi", Secret("payload-123"))
    path = _envelope_path(store, "alice", "kalshi")
    doc = json.loads(path.read_text())
    _edit(path, ciphertext=doc["ciphertext"][:8])
    with pytest.raises(CredentialTamperError):
        store.get_secret("alice", "kalshi")
    path.write_text("{not json")
    with pytest.raises(CredentialTamperError):
        store.get_secret("alice", "kalshi")


def test_envelope_moved_to_another_tenant_fails(store: CredentialStore) -> None:
    """Wrong tenant AAD: alice's envelope dropped into bob's folder (labels edited too)."""
    store.put_secret("alice", "kalshi", Secret("alice-key"))
    store.put_secret("bob", "kalshi", Secret("bob-key"))
    src = _envelope_path(store, "alice", "kalshi")
    dst = _envelope_path(store, "bob", "kalshi")
    dst.write_text(src.read_text())
    with pytest.raises(CredentialTamperError):
        store.get_secret("bob", "kalshi")
    _edit(dst, tenant_id="bob")
    with pytest.raises(CredentialTamperError):
        store.get_secret("bob", "kalshi")


def test_envelope_renamed_to_another_credential_fails(store: CredentialStore) -> None:
    store.put_secret("alice", "kalshi", Secret("alice-key"))
    src = _envelope_path(store, "alice", "kalshi")
    dst = _envelope_path(store, "alice", "polymarket")
    dst.write_text(src.read_text())
    with pytest.raises(CredentialTamperError):
        store.get_secret("alice", "polymarket")


def test_wrong_key_version_fails(store: CredentialStore, backend: FileBackend) -> None:
    store.put_secret("alice", "kalshi", Secret("alice-key"))
    store.rotate(lambda ring: ring.save(backend))  # ring now holds v1 and v2; envelope at v2
    path = _envelope_path(store, "alice", "kalshi")
    assert json.loads(path.read_text())["key_version"] == 2
    _edit(path, key_version=1)  # a version that exists, but not the one that wrapped it
    with pytest.raises(CredentialTamperError):
        store.get_secret("alice", "kalshi")
    _edit(path, key_version=99)
    with pytest.raises(UnknownKeyVersion):
        store.get_secret("alice", "kalshi")


def test_envelope_from_another_deployment_fails(tmp_path: Path, store: CredentialStore) -> None:
    """Same tenant and name, different master key: the wrap does not open."""
    other = CredentialStore.open(tmp_path / "other", FileBackend(tmp_path / "other-secrets"), create=True)
    other.put_secret("alice", "kalshi", Secret("theirs"))
    store.put_secret("alice", "kalshi", Secret("ours"))
    _envelope_path(store, "alice", "kalshi").write_text(_envelope_path(other, "alice", "kalshi").read_text())
    with pytest.raises(CredentialTamperError):
        store.get_secret("alice", "kalshi")


# --- rotation ------------------------------------------------------------------------------------


def test_rotation_rewraps_keys_only_and_old_readers_follow(tmp_path: Path, backend: FileBackend) -> None:
    store = CredentialStore.open(tmp_path / "store", backend, create=True)
    for tenant in ("alice", "bob"):
        store.put_secret(tenant, "kalshi", Secret(f"{tenant}-secret"))
    before = {t: Envelope.from_json(_envelope_path(store, t, "kalshi").read_text()) for t in ("alice", "bob")}
    # A second process-like reader that loaded the ring before the rotation.
    reader = CredentialStore.open(tmp_path / "store", backend)
    assert reader.keyring.versions == [1]

    report = store.rotate(lambda ring: ring.save(backend))
    assert (report.old_version, report.new_version, report.rewrapped, report.retired) == (1, 2, 2, [])
    for t in ("alice", "bob"):
        after = Envelope.from_json(_envelope_path(store, t, "kalshi").read_text())
        assert after.key_version == 2
        assert after.ciphertext == before[t].ciphertext and after.nonce == before[t].nonce
        assert after.wrapped_dek != before[t].wrapped_dek
        assert reader.get_secret(t, "kalshi").reveal() == f"{t}-secret".encode()
    assert reader.keyring.versions == [1, 2]  # it reloaded on meeting v2

    with pytest.raises(KeyVersionInUse):
        store.retire(2, lambda ring: ring.save(backend))  # current
    store.put_secret("carol", "kalshi", Secret("c"))
    ring = store.retire(1, lambda ring: ring.save(backend))
    assert ring.versions == [2] and MasterKeyRing.load(backend).versions == [2]
    assert store.get_secret("carol", "kalshi").reveal() == b"c"


def test_retire_refuses_a_version_still_in_use(tmp_path: Path, backend: FileBackend) -> None:
    store = CredentialStore.open(tmp_path / "store", backend, create=True)
    store.put_secret("alice", "kalshi", Secret("a"))
    ring = MasterKeyRing.load(backend).with_new_version()
    ring.save(backend)  # v2 published but nothing re-wrapped yet
    with pytest.raises(KeyVersionInUse):
        store.retire(1, lambda r: r.save(backend))


def test_open_without_ring_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="credentials init"):
        CredentialStore.open(tmp_path / "s", FileBackend(tmp_path / "empty"))


def test_rotation_under_load_never_fails_a_read(tmp_path: Path, backend: FileBackend) -> None:
    """Readers in threads (same store and a separately opened one) hammer gets through 3 rotations."""
    writer = CredentialStore.open(tmp_path / "store", backend, create=True)
    other = CredentialStore.open(tmp_path / "store", backend)
    tenants = [f"t{i}" for i in range(6)]
    for t in tenants:
        writer.put_secret(t, "kalshi", Secret(f"{t}-k"))
        writer.put_secret(t, "polymarket", Secret(f"{t}-p"))

    stop = threading.Event()
    reads = [0]
    errors: list[BaseException] = []
    count_lock = threading.Lock()
    progressed = threading.Condition(count_lock)

    def reader(store: CredentialStore, offset: int) -> None:
        i = offset
        while not stop.is_set():
            t = tenants[i % len(tenants)]
            name = "kalshi" if i % 2 else "polymarket"
            try:
                value = store.get_secret(t, name).reveal()
                assert value == f"{t}-{name[0]}".encode()
            except BaseException as exc:
                errors.append(exc)
                return
            with progressed:
                reads[0] += 1
                progressed.notify_all()
            i += 1

    threads = [threading.Thread(target=reader, args=(s, n)) for n, s in enumerate([writer, other] * 2)]
    for th in threads:
        th.start()

    def wait_for_reads(extra: int) -> None:
        with progressed:
            target = reads[0] + extra
            assert progressed.wait_for(lambda: reads[0] >= target or bool(errors), timeout=30)

    rewrapped_during: list[int] = []

    def on_rewrapped(_: Any) -> None:
        # Readers must make progress *between* envelope rewrites: overlap is guaranteed, not hoped.
        wait_for_reads(5)
        rewrapped_during.append(reads[0])

    try:
        for round_ in range(3):
            report = writer.rotate(
                lambda ring: ring.save(backend), retire_old=True, on_rewrapped=on_rewrapped
            )
            assert report.rewrapped == 12 and report.retired == [round_ + 1]
            wait_for_reads(20)
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=30)
    assert not errors, errors[:3]
    assert len(rewrapped_during) == 36 and reads[0] >= 36 * 5
    assert MasterKeyRing.load(backend).versions == [4]
    assert other.get_secret("t3", "kalshi").reveal() == b"t3-k"


def test_master_ring_serialization_rejects_garbage() -> None:
    ring = MasterKeyRing.generate().with_new_version()
    again = MasterKeyRing.from_secret(ring.to_secret())
    assert again.versions == [1, 2] and again.current == 2
    assert again.key(1) == ring.key(1)
    for bad in ("{}", "[]", '{"current": 3, "keys": {"1": "AAAA"}}', "not json"):
        with pytest.raises(CredentialError):
            MasterKeyRing.from_secret(Secret(bad))
    assert "keys" not in repr(ring) and REDACTED not in repr(ring)


def test_engine_tenant_config_from_the_store(
    store: CredentialStore, rsa_pair: tuple[str, Any], venue_vectors: dict[str, Any]
) -> None:
    from arbiter.app import build as bootstrap
    from arbiter.app.config import TenantConfig

    pem, public = rsa_pair
    store.put_kalshi("alice", KalshiCredentials("kid-7", Secret(pem)))
    store.put_polymarket("alice", _poly(venue_vectors))
    config = engine_tenant_config(store, "alice")
    assert isinstance(config, TenantConfig) and config.name == "alice"
    assert "PRIVATE" not in repr(config)
    headers = bootstrap.kalshi_signer(config).headers("GET", "/trade-api/v2/markets", now_ms=1)
    assert verify_message(public, "1", "GET", "/trade-api/v2/markets", headers[HEADER_SIGNATURE])
    poly = bootstrap.polymarket_credentials(config)
    assert poly.signer.address == venue_vectors["polymarket"]["test_key"]["address"]
    l2 = venue_vectors["polymarket"]["l2_credentials"]
    assert poly.api is not None and poly.api.api_key == l2["apiKey"]


def test_stray_files_in_the_store_are_ignored(tmp_path: Path, backend: FileBackend) -> None:
    store = CredentialStore.open(tmp_path / "store", backend, create=True)
    store.put_secret("alice", "kalshi", Secret("a"))
    (tmp_path / "store" / "lost+found").mkdir()
    (tmp_path / "store" / "README").write_text("not a tenant")
    (tmp_path / "store" / "alice" / "Bad Name.json").write_text("{}")
    assert [(i.tenant_id, i.name) for i in store.list()] == [("alice", "kalshi")]
    assert store.rotate(lambda ring: ring.save(backend)).rewrapped == 1


def test_store_over_a_given_ring_rotates_in_place(tmp_path: Path) -> None:
    store = CredentialStore(DirectoryEnvelopeRepo(tmp_path / "s"), MasterKeyRing.generate())
    store.put_secret("alice", "kalshi", Secret("a"))
    published: list[MasterKeyRing] = []
    store.rotate(published.append, retire_old=True)
    assert store.keyring.versions == [2] and [r.versions for r in published] == [[1, 2], [2]]
    assert store.put_secret("alice", "kalshi", Secret("b")).key_version == 2
    assert store.get_secret("alice", "kalshi").reveal() == b"b"


_WALLET = "0x2222222222222222222222222222222222222222"


@pytest.mark.parametrize(("sig_type", "funder"), [
    (0, None), (1, _WALLET), (2, _WALLET), (3, _WALLET),
])
def test_polymarket_signature_types_round_trip_into_the_client(
    store: CredentialStore, rsa_pair: tuple[str, Any], venue_vectors: dict[str, Any],
    sig_type: int, funder: str | None,
) -> None:
    """Every type 0-3 survives the store, the engine's tenant config and the client's signer:
    a deposit wallet (3) stays a deposit wallet, never the Safe a funder used to imply."""
    from dataclasses import replace

    from arbiter.app import build as bootstrap
    from arbiter.venues.polymarket.constants import V2
    from arbiter.venues.polymarket.orders import OrderSpec, build_order

    base = replace(_poly(venue_vectors), funder=funder, signature_type=sig_type)
    store.put_polymarket("alice", base)
    stored = store.get_polymarket("alice")
    assert (stored.signature_type, stored.funder) == (sig_type, funder)
    direct = polymarket_venue_credentials(stored)
    assert (direct.signature_type, direct.funder) == (sig_type, funder)
    store.put_kalshi("alice", KalshiCredentials("kid-7", Secret(rsa_pair[0])))
    config = engine_tenant_config(store, "alice")
    assert config.polymarket_signature_type == sig_type
    engine = bootstrap.polymarket_credentials(config)
    assert (engine.signature_type, engine.funder) == (sig_type, funder)
    # the order the client signs with them carries that type and spends from that wallet
    signed = build_order(OrderSpec(
        token_id="1" + "0" * 70, side=0, price=5000, size=5_000_000, tick=100, salt=1,
        signature_type=engine.signature_type, funder=engine.funder,
    ), engine.signer, engine.chain_id, V2)
    body = json.loads(signed.serialize("key"))["order"]
    assert body["signatureType"] == sig_type
    assert body["maker"] == (funder or engine.signer.address)


def test_polymarket_bundles_without_a_type_keep_the_documented_default(
    store: CredentialStore, venue_vectors: dict[str, Any]
) -> None:
    """Bundles written before the type was stored: 2 with a funder, else 0 (as the env var)."""
    key = venue_vectors["polymarket"]["test_key"]["private_key"]
    for funder, expected in ((_WALLET, 2), (None, 0)):
        store.put_secret("old", "polymarket", Secret(json.dumps(
            {"kind": "polymarket", "private_key": key, "funder": funder})))
        assert store.get_polymarket("old").signature_type == expected


@pytest.mark.parametrize(("sig_type", "funder"), [(4, _WALLET), (-1, None), (3, None), (1, None)])
def test_polymarket_impossible_signature_types_are_refused(
    store: CredentialStore, venue_vectors: dict[str, Any], sig_type: int, funder: str | None
) -> None:
    from dataclasses import replace

    with pytest.raises(CredentialError):
        store.put_polymarket("alice", replace(_poly(venue_vectors), funder=funder,
                                              signature_type=sig_type))
    key = venue_vectors["polymarket"]["test_key"]["private_key"]
    store.put_secret("bad", "polymarket", Secret(json.dumps(
        {"kind": "polymarket", "private_key": key, "funder": funder,
         "signature_type": sig_type})))
    with pytest.raises(CredentialError):
        store.get_polymarket("bad")
