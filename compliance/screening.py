"""Trade compliance at capture: denied-party screening and embargoed destinations, as pure functions.

Denied-party screening compares the customer's name and the ship-to's name (and the ship-to's address
with a listed address in the same country) with a list loaded as data. Names are normalised first
(``normalise``: Unicode compatibility form without accents, case-folded, ``&`` as ``and``, dots dropped
(``L.L.C.`` is ``llc``), other punctuation as spaces, legal-form words such as ``ltd``, ``gmbh``, ``llc`` dropped, spaces collapsed) and scored with
rapidfuzz's ``token_sort_ratio`` (0..100, word order does not matter). A score at or above the threshold
(``THRESHOLD`` = 90 unless given) is a hit that names the list entry and the score.

Embargoes are per destination (country, optionally a region) and item class (``*``: every item). The
hold/release workflow is the order book's; this module only says what matched.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from promessa.errors import FileRecordError

#: The stated threshold: token_sort_ratio on normalised names, 0..100.
THRESHOLD = 90.0
#: Words of legal form dropped before matching (they say nothing about who the party is).
LEGAL_FORMS = frozenset({
    "ltd", "limited", "llc", "inc", "incorporated", "corp", "corporation", "co", "company", "gmbh", "mbh", "ag", "kg", "sa",
    "sas", "sarl", "srl", "spa", "bv", "nv", "plc", "oy", "ab", "as", "pte", "pty", "llp", "lp", "jsc", "ojsc", "pjsc", "ooo",
    "zao", "fze", "fzco", "the",
})
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
DENIED_COLUMNS = ("entry_id", "list", "name", "aliases", "country", "address", "reason")
EMBARGO_COLUMNS = ("country", "region", "item_class", "list", "reason")


class ScreeningListError(FileRecordError):
    """A screening list file is refused at ``file``, 1-based data ``row``, ``field``, ``value``."""


def normalise(name: str) -> str:
    """The form in which names are compared (see the module docstring); ``'ACME Trading, GmbH'`` -> ``'acme trading'``."""
    s = unicodedata.normalize("NFKD", name)
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).casefold().replace("&", " and ").replace("ß", "ss").replace(".", "")
    words = [w for w in _NON_ALNUM.sub(" ", s).split() if w not in LEGAL_FORMS]
    return " ".join(words)


@dataclasses.dataclass(frozen=True, slots=True)
class DeniedParty:
    """A list entry: id, the list it comes from, the name and aliases, country (ISO alpha-2), address, reason."""

    entry_id: str
    list: str
    name: str
    aliases: tuple[str, ...] = ()
    country: str | None = None
    address: str | None = None
    reason: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Embargo:
    """No shipping of ``item_class`` (``*``: anything) to ``country`` (and ``region`` when given)."""

    country: str
    region: str | None
    item_class: str
    list: str
    reason: str = ""

    @property
    def ref(self) -> str:
        return f"{self.list}:{self.country}{'/' + self.region if self.region else ''}:{self.item_class}"


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    """What matched: ``kind`` (``denied_party``, ``denied_address``, ``embargo``), ``subject`` (``customer``,
    ``ship_to``, ``line <id>``), the ``screened`` text, the list ``entry`` id, its ``list``, the ``matched`` name
    or address, the ``score`` (100 for embargoes) and the entry's ``reason``."""

    kind: str
    subject: str
    screened: str
    entry: str
    list: str
    matched: str
    score: float
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Hit:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True, slots=True)
class ScreeningResult:
    """All hits of one screening and the threshold used; ``hold`` is true when there is any hit."""

    hits: tuple[Hit, ...]
    threshold: float

    @property
    def hold(self) -> bool:
        return bool(self.hits)

    def to_dict(self) -> dict[str, Any]:
        return {"hits": [h.to_dict() for h in self.hits], "threshold": self.threshold, "hold": self.hold}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScreeningResult:
        return cls(tuple(Hit.from_dict(h) for h in d["hits"]), float(d["threshold"]))


class ScreeningLists:
    """Denied parties and embargoes, with the normalised names indexed for matching. Immutable."""

    def __init__(self, parties: Iterable[DeniedParty] = (), embargoes: Iterable[Embargo] = ()) -> None:
        self.parties = tuple(parties)
        self.embargoes = tuple(embargoes)
        self._names: list[str] = []
        self._owner: list[tuple[DeniedParty, str]] = []
        for p in self.parties:
            for n in (p.name, *p.aliases):
                k = normalise(n)
                if k:
                    self._names.append(k)
                    self._owner.append((p, n))
        self._addresses = [(p, normalise(p.address)) for p in self.parties if p.address and p.country]

    def screen_name(self, name: str, *, subject: str, threshold: float = THRESHOLD) -> tuple[Hit, ...]:
        """Hits of one name against every entry (best alias per entry), highest score first."""
        q = normalise(name or "")
        if not q or not self._names:
            return ()
        best: dict[str, Hit] = {}
        for _, score, idx in process.extract(q, self._names, scorer=fuzz.token_sort_ratio, score_cutoff=threshold, limit=None):
            p, matched = self._owner[idx]
            if p.entry_id not in best or score > best[p.entry_id].score:
                best[p.entry_id] = Hit("denied_party", subject, name, p.entry_id, p.list, matched, round(float(score), 2), p.reason)
        return tuple(sorted(best.values(), key=lambda h: (-h.score, h.entry)))

    def screen_address(self, address: str, country: str, *, subject: str, threshold: float = THRESHOLD) -> tuple[Hit, ...]:
        """Hits of a ship-to address against listed addresses in the same country."""
        q = normalise(address or "")
        out = []
        for p, a in self._addresses:
            if p.country == country.upper() and q and a:
                score = fuzz.token_sort_ratio(q, a)
                if score >= threshold:
                    out.append(Hit("denied_address", subject, address, p.entry_id, p.list, p.address or "", round(float(score), 2),
                                   p.reason))
        return tuple(sorted(out, key=lambda h: (-h.score, h.entry)))

    def embargoes_for(self, country: str, region: str | None) -> tuple[Embargo, ...]:
        """Embargoes that cover a destination: same country, and the embargo's region (if any) equals ``region``."""
        c, r = country.upper(), (region or "").upper()
        return tuple(e for e in self.embargoes if e.country == c and (e.region is None or e.region == r))


def screen_order(lists: ScreeningLists, *, customer_name: str, ship_to_country: str, ship_to_name: str | None = None,
                 ship_to_region: str | None = None, ship_to_address: str | None = None,
                 lines: Iterable[tuple[str, str | None]] = (), threshold: float = THRESHOLD) -> ScreeningResult:
    """Screen an order at capture.

    Parameters
    ----------
    lists : the denied-party list and embargoes.
    customer_name : the ordering customer's name.
    ship_to_country, ship_to_region : the destination (ISO alpha-2; region as in the embargo file, e.g. ``UA-43``).
    ship_to_name : the consignee's name when it differs from the customer's (screened too).
    ship_to_address : street and city as one text (compared with listed addresses in the same country).
    lines : ``(line id, item class)`` pairs; the class comes from the catalogue (None: unclassified).
    threshold : the score (0..100) from which a name is a hit (default ``THRESHOLD``).

    Returns
    -------
    ``ScreeningResult``: customer and ship-to name hits, address hits, a ``ship_to`` hit for an embargo on every
    item class (``*``), and a hit per line whose item class is embargoed there.
    """
    hits: list[Hit] = list(lists.screen_name(customer_name, subject="customer", threshold=threshold))
    if ship_to_name and normalise(ship_to_name) != normalise(customer_name):
        hits += lists.screen_name(ship_to_name, subject="ship_to", threshold=threshold)
    if ship_to_address:
        hits += lists.screen_address(ship_to_address, ship_to_country, subject="ship_to", threshold=threshold)
    dest = f"{ship_to_country.upper()}{'/' + ship_to_region.upper() if ship_to_region else ''}"
    for e in lists.embargoes_for(ship_to_country, ship_to_region):
        if e.item_class == "*":
            hits.append(Hit("embargo", "ship_to", dest, e.ref, e.list, dest, 100.0, e.reason))
    for line_id, item_class in lines:
        for e in lists.embargoes_for(ship_to_country, ship_to_region):
            if e.item_class != "*" and item_class is not None and e.item_class == item_class:
                hits.append(Hit("embargo", f"line {line_id}", f"{item_class} to {dest}", e.ref, e.list, e.item_class, 100.0, e.reason))
    return ScreeningResult(tuple(hits), threshold)


def _read_csv(path: str | Path, columns: tuple[str, ...], required: tuple[str, ...]) -> tuple[str, list[tuple[int, dict]]]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ScreeningListError(f"cannot read the file ({e.strerror})", file=p.name, row=None, field="file", value=str(p)) from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    for c in header:
        if c not in columns:
            raise ScreeningListError("unknown column", file=p.name, row=None, field=c, value=c, hint=f"columns are {', '.join(columns)}")
    for c in required:
        if c not in header:
            raise ScreeningListError("required column missing", file=p.name, row=None, field=c, value=None)
    return p.name, [(i, {k: (v or "").strip() for k, v in r.items() if k is not None}) for i, r in enumerate(reader, start=1)]


def _country(v: str, *, file: str, row: int, field: str = "country") -> str:
    if not re.fullmatch(r"[A-Za-z]{2}", v):
        raise ScreeningListError("must be an ISO 3166-1 alpha-2 country code", file=file, row=row, field=field, value=v)
    return v.upper()


def load_denied_parties(path: str | Path) -> tuple[DeniedParty, ...]:
    """A denied-party CSV: ``entry_id, list, name`` required; ``aliases`` (``;``-separated), ``country``, ``address``,
    ``reason`` optional. Refused with ``ScreeningListError`` (file, row, field, value): an empty id or name, a
    duplicate id, a bad country code, a name with nothing left after normalising."""
    name, rows = _read_csv(path, DENIED_COLUMNS, ("entry_id", "list", "name"))
    out: list[DeniedParty] = []
    seen: dict[str, int] = {}
    for row, r in rows:
        for f in ("entry_id", "list", "name"):
            if not r.get(f):
                raise ScreeningListError("is required", file=name, row=row, field=f, value=r.get(f))
        if r["entry_id"] in seen:
            raise ScreeningListError(f"duplicate entry id (first in row {seen[r['entry_id']]})", file=name, row=row, field="entry_id",
                                     value=r["entry_id"])
        seen[r["entry_id"]] = row
        if not normalise(r["name"]):
            raise ScreeningListError("nothing left to match after normalising", file=name, row=row, field="name", value=r["name"])
        country = _country(r["country"], file=name, row=row) if r.get("country") else None
        aliases = tuple(a.strip() for a in (r.get("aliases") or "").split(";") if a.strip())
        out.append(DeniedParty(r["entry_id"], r["list"], r["name"], aliases, country, r.get("address") or None, r.get("reason") or ""))
    return tuple(out)


def load_embargoes(path: str | Path) -> tuple[Embargo, ...]:
    """An embargo CSV: ``country, item_class, list`` required (``item_class`` ``*`` for everything); ``region``,
    ``reason`` optional. Refused with ``ScreeningListError`` naming the file, row, field and value."""
    name, rows = _read_csv(path, EMBARGO_COLUMNS, ("country", "item_class", "list"))
    out = []
    for row, r in rows:
        for f in ("country", "item_class", "list"):
            if not r.get(f):
                raise ScreeningListError("is required", file=name, row=row, field=f, value=r.get(f))
        out.append(Embargo(_country(r["country"], file=name, row=row), (r.get("region") or "").upper() or None, r["item_class"],
                           r["list"], r.get("reason") or ""))
    return tuple(out)


def load_lists(denied: str | Path | None = None, embargoes: str | Path | None = None) -> ScreeningLists:
    """Screening lists from a denied-party CSV and an embargo CSV (either may be None: empty)."""
    return ScreeningLists(load_denied_parties(denied) if denied else (), load_embargoes(embargoes) if embargoes else ())
