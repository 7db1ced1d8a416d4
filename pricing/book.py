"""The price book: every pricing rule in force (price list versions, assignments, discount rules, tax rates)
and the catalogue, indexed for the pricers. Immutable: a change makes a new book (swap it like a snapshot).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal

from pricing.catalogue import Catalogue, CatalogueItem
from pricing.model import Assignment, Party, PriceEntry, PriceList, Rule, TaxRate
from promessa.errors import ValidationError

CATALOGUE_LIST = "catalogue"
_NO_ITEM = CatalogueItem("")


class _CatalogueEntries(Mapping[str, PriceEntry]):
    """The catalogue's prices as price-list entries, made on first use (a new catalogue makes a new book at once)."""

    __slots__ = ("_cache", "_items")

    def __init__(self, catalogue: Catalogue) -> None:
        self._items = catalogue._items
        self._cache: dict[str, PriceEntry] = {}

    def get(self, item: str, default: PriceEntry | None = None) -> PriceEntry | None:  # type: ignore[override]
        e = self._cache.get(item)
        if e is None:
            ci = self._items.get(item)
            if ci is None or ci.price is None:
                return default
            e = self._cache[item] = PriceEntry(item, ci.price)
        return e

    def __getitem__(self, item: str) -> PriceEntry:
        e = self.get(item)
        if e is None:
            raise KeyError(item)
        return e

    def __iter__(self) -> Iterator[str]:
        return (i for i, ci in self._items.items() if ci.price is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class PriceBook:
    """Price lists (all versions), assignments, rules (all versions), tax rates and the catalogue.

    Parameters
    ----------
    price_lists, assignments, rules, tax_rates : the rules as data (see ``pricing.load`` for the files).
    catalogue : item attributes (category, brand, tax category, item class) and catalogue prices.
    catalogue_prices : when true, the catalogue's price (in its currency, tax-exclusive) is the last
        fallback of every price-list chain, under the list id ``catalogue``.

    Refused with ``ValidationError``: two price lists or rules with the same id and version, an
    assignment to a price list id that does not exist.
    """

    def __init__(self, *, price_lists: Iterable[PriceList] = (), assignments: Iterable[Assignment] = (),
                 rules: Iterable[Rule] = (), tax_rates: Iterable[TaxRate] = (), catalogue: Catalogue | None = None,
                 catalogue_prices: bool = True) -> None:
        self.price_lists = tuple(price_lists)
        self.assignments = tuple(assignments)
        self.rules = tuple(rules)
        self.tax_rates = tuple(tax_rates)
        self.catalogue = catalogue
        self.catalogue_prices = catalogue_prices
        lists: dict[str, list[PriceList]] = {}
        for pl in self.price_lists:
            if any(o.version == pl.version for o in lists.get(pl.id, ())):
                raise ValidationError("two price lists with the same id and version", field="price_lists", value=pl.ref)
            lists.setdefault(pl.id, []).append(pl)
        for v in lists.values():
            v.sort(key=lambda p: -p.version)
        if catalogue is not None and catalogue_prices:
            if CATALOGUE_LIST in lists:
                raise ValidationError(f"the id {CATALOGUE_LIST!r} is reserved for catalogue prices", field="price_lists",
                                      value=CATALOGUE_LIST)
            lists[CATALOGUE_LIST] = [PriceList(CATALOGUE_LIST, 1, catalogue.currency, dt.date.min, None, False,
                                               _CatalogueEntries(catalogue), "catalogue prices")]
        self._lists = lists
        self._by_customer: dict[str, list[str]] = {}
        self._by_segment: dict[str, list[str]] = {}
        self._by_channel: dict[str, list[str]] = {}
        self._default: list[str] = []
        for a in self.assignments:
            if a.price_list not in lists:
                raise ValidationError("assignment to an unknown price list", field="price_list", value=a.price_list)
            target = {"customer": self._by_customer, "segment": self._by_segment, "channel": self._by_channel}.get(a.kind)
            if target is None:
                self._default.append(a.price_list)
            else:
                target.setdefault(a.key, []).append(a.price_list)
        seen: set[tuple[str, int]] = set()
        for r in self.rules:
            if (r.id, r.version) in seen:
                raise ValidationError("two rules with the same id and version", field="rules", value=r.ref)
            seen.add((r.id, r.version))
        self._tax: dict[tuple[str, str, str], list[TaxRate]] = {}
        for t in self.tax_rates:
            self._tax.setdefault((t.country, t.region, t.tax_category), []).append(t)
        self._rules_cache: dict[tuple[dt.date, str], tuple[Rule, ...]] = {}
        self._chain_cache: dict[tuple, tuple[PriceList, ...]] = {}
        self._item_rules_cache: dict[tuple, tuple[tuple[int, Rule, str], ...]] = {}
        self._party_rules_cache: dict[tuple, frozenset[int]] = {}
        self._tax_cache: dict[tuple, TaxRate | None] = {}
        #: forms other modules derive from this book once (the batch pricer's compiled lists), cached here
        self.derived: dict = {}

    # ------------------------------------------------------------------------------------------ changes
    def replace(self, *, price_lists: Iterable[PriceList] | None = None, assignments: Iterable[Assignment] | None = None,
                rules: Iterable[Rule] | None = None, tax_rates: Iterable[TaxRate] | None = None) -> PriceBook:
        """A new book with the given parts replaced (for example a rule posted through the API added to ``rules``);
        validated as a whole like a new book. The catalogue is kept."""
        return PriceBook(price_lists=self.price_lists if price_lists is None else price_lists,
                         assignments=self.assignments if assignments is None else assignments,
                         rules=self.rules if rules is None else rules, tax_rates=self.tax_rates if tax_rates is None else tax_rates,
                         catalogue=self.catalogue, catalogue_prices=self.catalogue_prices)

    def with_catalogue(self, catalogue: Catalogue) -> PriceBook:
        """A new book with ``catalogue`` (for example after ``apply_changes``); the rules are shared."""
        return PriceBook(price_lists=self.price_lists, assignments=self.assignments, rules=self.rules,
                         tax_rates=self.tax_rates, catalogue=catalogue, catalogue_prices=self.catalogue_prices)

    # ------------------------------------------------------------------------------------------ lookups
    def item(self, item: str) -> CatalogueItem:
        """The item's attributes (an empty record when the book has no catalogue or does not know the item)."""
        if self.catalogue is None:
            return _NO_ITEM
        return self.catalogue._items.get(item, _NO_ITEM)

    def price_lists_for(self, list_id: str) -> tuple[PriceList, ...]:
        """Every version of a price list id (the catalogue list included), highest version first."""
        return tuple(self._lists.get(list_id, ()))

    def list_on(self, list_id: str, on: dt.date, currency: str | None = None) -> PriceList | None:
        """The price list version in force ``on`` that day (the highest effective version), in ``currency`` if given."""
        for pl in self._lists.get(list_id, ()):
            if pl.effective(on) and (currency is None or pl.currency == currency):
                return pl
        return None

    def chain_ids(self, party: Party) -> list[str]:
        """Price list ids in fallback order: the party's own list, customer, segments (in the party's order),
        channel and default assignments, then the catalogue prices."""
        ids = []
        if party.price_list:
            ids.append(party.price_list)
        ids += self._by_customer.get(party.id, ())
        for s in party.segments:
            ids += self._by_segment.get(s, ())
        if party.channel:
            ids += self._by_channel.get(party.channel, ())
        ids += self._default
        if CATALOGUE_LIST in self._lists and self.catalogue_prices:
            ids.append(CATALOGUE_LIST)
        return list(dict.fromkeys(ids))

    def currency_for(self, party: Party, on: dt.date) -> str:
        """The currency of the first price list in the party's chain in force that day."""
        for lid in self.chain_ids(party):
            pl = self.list_on(lid, on)
            if pl is not None:
                return pl.currency
        raise ValidationError("no price list in force for this customer on that day", field="customer", value=party.id,
                              hint="assign a price list (customer, segment, channel or default)")

    def chain(self, party: Party, currency: str, on: dt.date) -> tuple[PriceList, ...]:
        """The price list versions that price the party's lines on ``on`` in ``currency``, in fallback order."""
        key = (party.id, party.price_list, party.segments, party.channel, currency, on)
        got = self._chain_cache.get(key)
        if got is None:
            got = tuple(pl for pl in (self.list_on(i, on, currency) for i in self.chain_ids(party)) if pl is not None)
            if len(self._chain_cache) > 100_000:
                self._chain_cache.clear()
            self._chain_cache[key] = got
        return got

    def rules_on(self, on: dt.date, currency: str) -> tuple[Rule, ...]:
        """The rules in force ``on`` (per id the highest effective version) for ``currency``, in precedence order."""
        key = (on, currency)
        got = self._rules_cache.get(key)
        if got is None:
            best: dict[str, Rule] = {}
            for r in self.rules:
                if (r.effective(on) and (r.currency is None or r.currency == currency)
                        and (r.id not in best or r.version > best[r.id].version)):
                    best[r.id] = r
            got = tuple(sorted(best.values(), key=lambda r: (r.precedence, r.id)))
            if len(self._rules_cache) > 10_000:
                self._rules_cache.clear()
            self._rules_cache[key] = got
        return got

    def rules_for_item(self, on: dt.date, currency: str, item: str) -> tuple[tuple[int, Rule, str], ...]:
        """``rules_on`` narrowed to the rules whose item, category and brand conditions the item meets, as
        ``(position in rules_on, rule, rule id)`` (cached)."""
        key = (on, currency, item)
        got = self._item_rules_cache.get(key)
        if got is None:
            attrs = self.item(item)
            got = tuple((k, r, r.ref) for k, r in enumerate(self.rules_on(on, currency))
                        if (not r.items or item in r.items) and (not r.categories or attrs.category in r.categories)
                        and (not r.brands or attrs.brand in r.brands))
            if len(self._item_rules_cache) > 200_000:
                self._item_rules_cache.clear()
            self._item_rules_cache[key] = got
        return got

    def rules_for_party(self, on: dt.date, currency: str, party: Party) -> frozenset[int]:
        """Positions in ``rules_on`` of the rules whose customer, segment and channel conditions the party meets (cached)."""
        key = (on, currency, party.id, party.segments, party.channel)
        got = self._party_rules_cache.get(key)
        if got is None:
            segs = set(party.segments)
            got = frozenset(k for k, r in enumerate(self.rules_on(on, currency))
                            if (not r.customers or party.id in r.customers) and (not r.segments or not r.segments.isdisjoint(segs))
                            and (not r.channels or party.channel in r.channels))
            if len(self._party_rules_cache) > 200_000:
                self._party_rules_cache.clear()
            self._party_rules_cache[key] = got
        return got

    def tax_rate(self, country: str, region: str | None, tax_category: str, on: dt.date) -> TaxRate | None:
        """The rate for the ship-to jurisdiction and item tax category: country + region first, then the country."""
        key = (country, region, tax_category, on)
        try:
            return self._tax_cache[key]
        except KeyError:
            pass
        got = self._tax_lookup(country, region, tax_category, on)
        if len(self._tax_cache) > 100_000:
            self._tax_cache.clear()
        self._tax_cache[key] = got
        return got

    def tax_rate_ref(self, country: str, region: str | None, tax_category: str, on: dt.date) -> tuple[Decimal, str] | None:
        """``(rate, rule id)`` of ``tax_rate`` (cached; what a waterfall shows), or None."""
        key = ("ref", country, region, tax_category, on)
        got = self._tax_cache.get(key, False)
        if got is False:
            tr = self.tax_rate(country, region, tax_category, on)
            got = None if tr is None else (tr.rate, tr.ref)
            self._tax_cache[key] = got
        return got

    def _tax_lookup(self, country: str, region: str | None, tax_category: str, on: dt.date) -> TaxRate | None:
        keys = ((country, region, tax_category), (country, "", tax_category)) if region else ((country, "", tax_category),)
        for k in keys:
            for t in self._tax.get(k, ()):
                if t.effective(on):
                    return t
        return None
