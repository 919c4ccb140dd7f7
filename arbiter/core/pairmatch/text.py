"""Text normalisation for matching names across venues (pure).

The venues spell the same entity differently: Kalshi writes "Fresno St." and "DET Lions" where
Polymarket writes "Fresno State" and "Lions"; both mix case, punctuation and accents. Names are
compared as *token sets* after normalisation, never by edit distance: a shared token is evidence,
a near-miss spelling is not (ADR 0131).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["name_tokens", "names_match", "normalise", "tokens"]

#: abbreviations the venues use for the same word; only unambiguous expansions belong here
_SYNONYMS = {
    "st": "state",
    "univ": "university",
    "u": "university",
    "intl": "international",
    "mt": "mount",
    "ft": "fort",
}
#: words that carry no identity in a name ("the Lions", "FC Barcelona")
_NAME_NOISE = frozenset({"the", "fc", "cf", "sc", "afc", "club", "team", "of", "and", "&"})
_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def normalise(text: str) -> str:
    """Lower case, accents stripped, punctuation as spaces (decimal points kept)."""
    folded = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(_WORD.findall(ascii_text.lower()))


def tokens(text: str) -> tuple[str, ...]:
    return tuple(normalise(text).split())


def name_tokens(name: str) -> frozenset[str]:
    """The identity-bearing tokens of a name, abbreviations expanded."""
    return frozenset(_SYNONYMS.get(t, t) for t in tokens(name) if t not in _NAME_NOISE)


def names_match(a: str, b: str) -> bool:
    """True when one name's tokens are all contained in the other's ("Detroit" in "Detroit
    Lions", "DET Lions" ⊇ "Lions"): a containment, so "New York" never matches "New Jersey"."""
    ta, tb = name_tokens(a), name_tokens(b)
    if not ta or not tb:
        return False
    return ta <= tb or tb <= ta
