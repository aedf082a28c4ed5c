"""Finding a user the way people type a name: "Muessig", "Mussig", "müßig" and "MÜSSIG"
all find "Müßig", "jurgen" finds "Jürgen".

Each word of a user's login, names and e-mail is stored in the forms it may be typed in
(table ``user_search_terms``): case-folded (ß becomes ss), with umlauts written out
(ü = ue) and without accents (ü = u). A search looks each typed word up as a prefix of
those terms: an index range, so it costs the same with 100,000 users.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_WORD = re.compile(r"\w+")
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})
#: the highest character: ``term < prefix + _LAST`` ends a prefix's index range
_LAST = "\U0010ffff"
MAX_TERM = 100


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))


def forms(word: str) -> set[str]:
    """The forms one word may be typed in."""
    folded = word.casefold()
    return {f[:MAX_TERM] for f in (folded, folded.translate(_UMLAUTS), _plain(folded),
                                   _plain(folded.translate(_UMLAUTS))) if f}


def terms(*parts: str | None) -> set[str]:
    """Every form of every word of ``parts`` (login, names, e-mail)."""
    return {form for part in parts if part for word in _WORD.findall(part)
            for form in forms(word)}


def query_words(search: str) -> list[str]:
    """Per typed word, the one form to look up (umlauts written out, no accents): every
    name it may stand for has that form among its terms ("Müßig" and "Muessig" both have
    "muessig"); a user matches when every word matches."""
    return [_plain(word.casefold().translate(_UMLAUTS))[:MAX_TERM]
            for word in _WORD.findall(search)]


def prefix_range(prefix: str) -> tuple[str, str]:
    """The index range of terms that start with ``prefix``."""
    return prefix, prefix + _LAST


def rows(user_id: int, parts: Iterable[str | None]) -> list[dict[str, object]]:
    return [{"user_id": user_id, "term": t} for t in sorted(terms(*parts))]
