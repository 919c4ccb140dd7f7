"""The venue's rejection prose and the codes we give it.

CLOB V2 answers rejections with sentences, not codes: ``{"error": "<message>"}`` on HTTP 400, or
``errorMsg`` in a ``success: false`` body (docs.polymarket.com ``/resources/error-codes``: "All
CLOB API errors return a JSON object with a single error field"). The sentences below are the
current wording, each from a primary source:

* ``polymarket-client`` 0.14.0 ``polymarket/models/clob/order_response.py``
  (``_ERROR_MSG_TO_CODE``, ``_FOK_NOT_FILLED_MSG``, ``_FAK_NOT_FILLED_MSG``, the
  ``"not enough balance / allowance"`` test) and ``_internal/actions/orders/place.py``
  (``"allowance is not enough"`` on HTTP 400 starts its allowance recovery);
* the docs' placement table (``INVALID_ORDER_MIN_TICK_SIZE`` "order is invalid. Price ()
  breaks minimum tick size rule:", ``INVALID_ORDER_MIN_SIZE`` "order is invalid. Size () lower
  than the minimum:", ``INVALID_ORDER_DUPLICATED`` "order is invalid. Duplicated.",
  ``EXECUTION_ERROR`` "could not run the execution", ``INSERT_ORDER_ERROR`` "could not insert
  order");
* ``py-clob-client-v2`` 1.2.1 ``constants.ORDER_VERSION_MISMATCH_ERROR`` and
  ``clob-client-v2`` ``src/constants.ts`` (``"order_version_mismatch"``, matched as a substring
  of the error by both SDKs; the rest of that sentence is unpublished).

The local Polymarket answers with these same strings, so the client's classification is tested
against what the venue says. Matching is by distinctive substring, case-insensitive, and the
venue's own message always travels along verbatim in the raised error.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "FAK_NOT_FILLED",
    "FOK_NOT_FILLED",
    "code_of_prose",
    "min_size_message",
    "tick_message",
]

DUPLICATED: Final = "order is invalid. Duplicated."
NOT_ENOUGH_BALANCE: Final = "not enough balance / allowance"
INVALID_EXPIRATION: Final = "invalid expiration"
FOK_NOT_FILLED: Final = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_NOT_FILLED: Final = (
    "no orders found to match with FAK order. "
    "FAK orders are partially filled or killed if no match is found."
)
POST_ONLY_CROSSES: Final = "invalid post-only order: order crosses book"
MARKET_NOT_READY: Final = "the market is not yet ready to process new orders"
VERSION_MISMATCH: Final = "order_version_mismatch"
EXECUTION_FAILED: Final = "could not run the execution"


def tick_message(price: str, tick: str) -> str:
    return f"order is invalid. Price ({price}) breaks minimum tick size rule: {tick}"


def min_size_message(size: str, minimum: str) -> str:
    return f"order is invalid. Size ({size}) lower than the minimum: {minimum}"


#: (distinctive lower-case substring, our code); the first match wins
_PROSE: Final = (
    ("duplicated", "INVALID_ORDER_DUPLICATED"),
    ("breaks minimum tick size rule", "INVALID_ORDER_MIN_TICK_SIZE"),
    ("lower than the minimum", "INVALID_ORDER_MIN_SIZE"),
    ("not enough balance", "INVALID_ORDER_NOT_ENOUGH_BALANCE"),
    ("allowance is not enough", "INVALID_ORDER_NOT_ENOUGH_BALANCE"),
    ("invalid expiration", "INVALID_ORDER_EXPIRATION"),
    ("fok orders are fully filled or killed", "FOK_ORDER_NOT_FILLED_ERROR"),
    ("no orders found to match with fak order", "FAK_ORDER_NOT_FILLED_ERROR"),
    ("invalid post-only order", "INVALID_POST_ONLY_ORDER"),
    ("post-only mode", "POST_ONLY_MODE"),
    ("not yet ready to process new orders", "MARKET_NOT_READY"),
    ("order_version_mismatch", "ORDER_VERSION_MISMATCH"),
    ("invalid nonce", "INVALID_ORDER_NONCE"),
    ("could not run the execution", "EXECUTION_ERROR"),
    ("could not insert order", "INSERT_ORDER_ERROR"),
)


def code_of_prose(message: str) -> str | None:
    """Our code for a venue sentence, or None when the sentence is not a known one."""
    lowered = message.lower()
    for needle, code in _PROSE:
        if needle in lowered:
            return code
    return None
