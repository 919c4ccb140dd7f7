"""Our reading of the venue's rejection sentences against the official SDKs' own reading.

The client (``arbiter/venues/polymarket/errors.py``) and the local venue
(``arbiter/sim/polymarket/prose.py``) keep separate tables so that one wrong sentence cannot pass
both sides. What keeps each honest is checked here against the SDKs, not against each other:

* every sentence ``polymarket-client`` 0.14.0 maps to a code (``_ERROR_MSG_TO_CODE``, its
  ``"not enough balance / allowance"`` substring, its allowance-recovery token) and the
  version-mismatch token of ``py-clob-client-v2`` 1.2.1 become the typed error we expect;
* a code the SDK adds that we have not mapped fails here, not in production;
* the local venue says exactly the SDK's sentences, and what it says the client classifies.
"""

from __future__ import annotations

import typing

import pytest
from polymarket._internal.actions.orders import place as pmc_place
from polymarket.models.clob import order_response as pmc
from py_clob_client_v2 import constants as v2_constants

from arbiter.sim.polymarket import prose as sim_prose
from arbiter.venues.base import DuplicateOrderError, RejectedError, VenueError
from arbiter.venues.polymarket.rest import error_from_message

#: polymarket-client's codes -> ours. ``unmatched`` is a status, not a sentence; ``unknown`` is
#: its fallback for sentences it does not know (ours: a code derived from the message).
SDK_TO_OURS: dict[str, str] = {
    "market_not_ready": "MARKET_NOT_READY",
    "not_enough_balance": "INVALID_ORDER_NOT_ENOUGH_BALANCE",
    "invalid_nonce": "INVALID_ORDER_NONCE",
    "invalid_expiration": "INVALID_ORDER_EXPIRATION",
    "post_only_would_cross": "INVALID_POST_ONLY_ORDER",
    "post_only_mode": "POST_ONLY_MODE",
    "fok_not_filled": "FOK_ORDER_NOT_FILLED_ERROR",
    "fak_not_filled": "FAK_ORDER_NOT_FILLED_ERROR",
}
NOT_SENTENCES = {"unmatched", "unknown"}


def _classified(message: str) -> VenueError:
    return error_from_message(400, message)


def test_every_sdk_error_code_has_our_counterpart() -> None:
    sdk_codes = set(typing.get_args(pmc.OrderResponseErrorCode))
    assert sdk_codes - NOT_SENTENCES == set(SDK_TO_OURS), (
        "polymarket-client's OrderResponseErrorCode changed: map the new codes"
    )


@pytest.mark.parametrize(("sentence", "sdk_code"), sorted(pmc._ERROR_MSG_TO_CODE.items()))
def test_each_sdk_sentence_maps_to_the_same_typed_error(sentence: str, sdk_code: str) -> None:
    err = _classified(sentence)
    assert type(err) is RejectedError
    assert err.code == SDK_TO_OURS[sdk_code]
    assert err.message == sentence  # the venue's words travel verbatim
    # and the SDK itself agrees on the code of that sentence (its normaliser, not its table)
    raw = pmc.RawOrderResponse.model_validate(
        {"errorMsg": sentence, "makingAmount": "", "orderID": "", "status": "",
         "success": False, "takingAmount": ""})
    rejected = pmc.normalize_order_response(raw)
    assert isinstance(rejected, pmc.RejectedOrder)
    assert rejected.code == sdk_code


@pytest.mark.parametrize(
    "sentence",
    [
        "not enough balance / allowance",
        # the SDK matches by substring: the venue may add detail around it
        "not enough balance / allowance: the balance is not enough -> balance: 0, order amount: 5",
        # polymarket-client's allowance recovery token on HTTP 400 (orders/place.py)
        f"the order's {pmc_place._ALLOWANCE_REJECTION_TOKEN} for the spender",
    ],
)
def test_balance_and_allowance_sentences(sentence: str) -> None:
    err = _classified(sentence)
    assert type(err) is RejectedError
    assert err.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"


def test_the_version_mismatch_token_of_py_clob_client_v2() -> None:
    token = v2_constants.ORDER_VERSION_MISMATCH_ERROR
    # clob-client-v2 src/constants.ts@18bde14 has the same token; its src/errors.ts@666805a
    # also names the upper-case form
    for sentence in (token, f"invalid order: {token}", "ORDER_VERSION_MISMATCH"):
        err = _classified(sentence)
        assert type(err) is RejectedError
        assert err.code == "ORDER_VERSION_MISMATCH"


def test_a_sentence_nobody_knows_is_still_a_rejection_never_success() -> None:
    err = _classified("the venue invented a new refusal today")
    assert type(err) is RejectedError
    assert err.code  # derived from the message, never empty


def test_the_local_venue_says_the_sdk_sentences() -> None:
    """The sim's own table (cited independently) agrees with the SDK's strings."""
    assert sim_prose.FOK_NOT_FILLED == pmc._FOK_NOT_FILLED_MSG
    assert sim_prose.FAK_NOT_FILLED == pmc._FAK_NOT_FILLED_MSG
    table = pmc._ERROR_MSG_TO_CODE
    for sentence, sdk_code in (
        (sim_prose.MARKET_NOT_READY, "market_not_ready"),
        (sim_prose.INVALID_EXPIRATION, "invalid_expiration"),
        (sim_prose.POST_ONLY_CROSSES, "post_only_would_cross"),
        (sim_prose.POST_ONLY_MODE, "post_only_mode"),
    ):
        assert table[sentence] == sdk_code
    raw = pmc.RawOrderResponse.model_validate(
        {"errorMsg": sim_prose.NOT_ENOUGH_BALANCE, "makingAmount": "", "orderID": "",
         "status": "", "success": False, "takingAmount": ""})
    rejected = pmc.normalize_order_response(raw)
    assert isinstance(rejected, pmc.RejectedOrder)
    assert rejected.code == "not_enough_balance"
    assert v2_constants.ORDER_VERSION_MISMATCH_ERROR in sim_prose.VERSION_MISMATCH


@pytest.mark.parametrize(
    ("sentence", "code", "kind"),
    [
        (sim_prose.DUPLICATED, "INVALID_ORDER_DUPLICATED", DuplicateOrderError),
        (sim_prose.tick_message("0.123", "0.01"), "INVALID_ORDER_MIN_TICK_SIZE", RejectedError),
        (sim_prose.min_size_message("1", "5"), "INVALID_ORDER_MIN_SIZE", RejectedError),
        (sim_prose.EXECUTION_FAILED, "EXECUTION_ERROR", RejectedError),
        (sim_prose.FAK_NOT_FILLED, "FAK_ORDER_NOT_FILLED_ERROR", RejectedError),
        (sim_prose.FOK_NOT_FILLED, "FOK_ORDER_NOT_FILLED_ERROR", RejectedError),
        (sim_prose.NOT_ENOUGH_BALANCE, "INVALID_ORDER_NOT_ENOUGH_BALANCE", RejectedError),
        (sim_prose.VERSION_MISMATCH, "ORDER_VERSION_MISMATCH", RejectedError),
        (sim_prose.POST_ONLY_MODE, "POST_ONLY_MODE", RejectedError),
    ],
)
def test_what_the_local_venue_says_the_client_types(
    sentence: str, code: str, kind: type[VenueError]
) -> None:
    err = _classified(sentence)
    assert type(err) is kind
    assert err.code == code


def test_the_local_venue_does_not_read_the_clients_table() -> None:
    """One wrong sentence must not pass both sides: the sim never imports the classifier."""
    import ast
    from pathlib import Path

    import arbiter.sim.polymarket as sim_pkg

    for path in Path(sim_pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {a.name for a in node.names}
                assert node.module != "arbiter.venues.polymarket.errors", path
                assert not (node.module == "arbiter.venues.polymarket" and "errors" in names), path
                assert node.module != "arbiter.venues.polymarket.orders", path
