"""What the local Polymarket says when it refuses an order: the venue's own sentences.

This table is the *venue's* side and is kept apart from the client's classifier
(``arbiter/venues/polymarket/errors.py``) on purpose: if both sides read one module, a wrong
sentence would pass the client's tests against the local venue and still fail against the live
one. Each sentence here is taken from a primary source on its own (cited per sentence), and
``tests/venues/polymarket/test_prose_vs_sdk.py`` checks this table against the official SDK's
strings and the client's classification against the SDK's own sentence → code mapping.

Sources:

* ``[pmc]`` ``polymarket-client`` 0.14.0 (``Polymarket/py-sdk``),
  ``polymarket/models/clob/order_response.py``: ``_ERROR_MSG_TO_CODE``, ``_FOK_NOT_FILLED_MSG``,
  ``_FAK_NOT_FILLED_MSG`` and the ``"not enough balance / allowance"`` substring test of
  ``_infer_error_code``;
* ``[docs]`` docs.polymarket.com ``/resources/error-codes`` (the order placement table:
  ``order is invalid. Duplicated.``, ``order is invalid. Price () breaks minimum tick size
  rule:``, ``order is invalid. Size () lower than the minimum:``, ``could not run the
  execution``); ``/trading/place-orders`` for the GTD lead time;
* ``[v2]`` ``py-clob-client-v2`` 1.2.1 ``constants.ORDER_VERSION_MISMATCH_ERROR`` and
  ``clob-client-v2`` ``src/constants.ts``: the token ``order_version_mismatch`` both SDKs look
  for in an error (the rest of that sentence is unpublished, so the token alone is said).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DUPLICATED",
    "EXECUTION_FAILED",
    "FAK_NOT_FILLED",
    "FOK_NOT_FILLED",
    "INVALID_EXPIRATION",
    "MARKET_NOT_READY",
    "NOT_ENOUGH_BALANCE",
    "POST_ONLY_CROSSES",
    "POST_ONLY_MODE",
    "VERSION_MISMATCH",
    "min_size_message",
    "tick_message",
]

#: [docs] /resources/error-codes, ``INVALID_ORDER_DUPLICATED``
DUPLICATED: Final = "order is invalid. Duplicated."
#: [pmc] ``_infer_error_code``: ``"not enough balance / allowance" in raw.error_msg``
NOT_ENOUGH_BALANCE: Final = "not enough balance / allowance"
#: [pmc] ``_ERROR_MSG_TO_CODE`` → ``invalid_expiration``
INVALID_EXPIRATION: Final = "invalid expiration"
#: [pmc] ``_FOK_NOT_FILLED_MSG``
FOK_NOT_FILLED: Final = "order couldn't be fully filled. FOK orders are fully filled or killed."
#: [pmc] ``_FAK_NOT_FILLED_MSG`` (an HTTP 400 since V2)
FAK_NOT_FILLED: Final = (
    "no orders found to match with FAK order. "
    "FAK orders are partially filled or killed if no match is found."
)
#: [pmc] ``_ERROR_MSG_TO_CODE`` → ``post_only_would_cross``
POST_ONLY_CROSSES: Final = "invalid post-only order: order crosses book"
#: [pmc] ``_ERROR_MSG_TO_CODE`` → ``post_only_mode``
POST_ONLY_MODE: Final = "post-only mode: only post-only orders and cancels are allowed"
#: [pmc] ``_ERROR_MSG_TO_CODE`` → ``market_not_ready``
MARKET_NOT_READY: Final = "the market is not yet ready to process new orders"
#: [v2] the token both SDKs match as a substring
VERSION_MISMATCH: Final = "order_version_mismatch"
#: [docs] /resources/error-codes, ``EXECUTION_ERROR``
EXECUTION_FAILED: Final = "could not run the execution"


def tick_message(price: str, tick: str) -> str:
    """[docs] /resources/error-codes, ``INVALID_ORDER_MIN_TICK_SIZE``."""
    return f"order is invalid. Price ({price}) breaks minimum tick size rule: {tick}"


def min_size_message(size: str, minimum: str) -> str:
    """[docs] /resources/error-codes, ``INVALID_ORDER_MIN_SIZE``."""
    return f"order is invalid. Size ({size}) lower than the minimum: {minimum}"
