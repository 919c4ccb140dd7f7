"""Cross-venue pair matching as pure functions: catalogue bodies in, candidates out.

``contract`` reads the venues' bodies into venue-neutral :class:`Market` views, ``quantity`` and
``text`` normalise numbers and names, ``relation`` decides same-event and the relation of the two
true-sets, ``rules`` is the fail-closed rules gate and ``matcher`` assigns one-to-one with a
margin and gives each candidate its verdict. No I/O anywhere (docs/pairs.md, ADRs 0130-0134).
"""

from arbiter.core.pairmatch.contract import (
    CatalogueError,
    Market,
    kalshi_markets,
    polymarket_markets,
)
from arbiter.core.pairmatch.matcher import PROPOSE, REJECT, REVIEW, Candidate, match

__all__ = [
    "PROPOSE", "REJECT", "REVIEW", "Candidate", "CatalogueError", "Market", "kalshi_markets",
    "match", "polymarket_markets",
]
