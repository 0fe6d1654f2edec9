"""Where money changes hands: web-shop orders (JSON Lines) and store till receipts (CSV).

Orders are placed by account holders; the shipping block is sometimes somebody else (a
household member, or a friend receiving a gift), which is why a mapping must take identity
from `buyer.*` only. Receipts carry a loyalty card and/or a phone, often masked or absent,
and a home landline shared by the household.
"""

from __future__ import annotations

from typing import Any

from onefold.sample.context import Ctx
from onefold.sample.people import Person
from onefold.sample.pools import CN_CITIES, PRODUCTS, US_CITIES, US_STREETS
from onefold.sample.timefmt import DAY, RECYCLE_CUTOFF

# orders per account holder: 0–6, mean ≈1.85
_ORDER_CUM = (18, 50, 72, 85, 93, 97, 100)


def _items(ctx: Ctx, cn: bool) -> tuple[list[dict[str, Any]], float]:
    rng = ctx.rng
    prices = ctx.pools.price_cny if cn else ctx.pools.price_usd
    items: list[dict[str, Any]] = []
    total = 0.0
    for _ in range(1 if rng.random() < 0.6 else rng.randint(2, 3)):
        i = rng.choices(range(len(PRODUCTS)), cum_weights=ctx.pools.product_cum)[0]
        qty = 1 if rng.random() < 0.85 else 2
        items.append({"sku": PRODUCTS[i][0], "qty": qty, "price": prices[i]})
        total += qty * prices[i]
    return items, round(total, 2)


def _stranger(ctx: Ctx, p: Person) -> tuple[str, str, dict[str, str]]:
    """A gift recipient who is nobody in the dataset: name, phone and address."""
    rng = ctx.rng
    pools = ctx.pools
    if p.cn:
        last = rng.choices(pools.cn_last.names, cum_weights=pools.cn_last.cum)[0]
        first = rng.choices(pools.cn_first_f.names, cum_weights=pools.cn_first_f.cum)[0]
        city = CN_CITIES[rng.randrange(len(CN_CITIES))]
        name = last + first
        line1 = f"{rng.randint(1, 999)}号{rng.randint(101, 2806)}室"
    else:
        last = rng.choices(pools.us_last.names, cum_weights=pools.us_last.cum)[0]
        first = rng.choices(pools.us_first_f.names, cum_weights=pools.us_first_f.cum)[0]
        city = US_CITIES[rng.randrange(len(US_CITIES))]
        name = f"{first} {last}"
        line1 = f"{rng.randint(1, 9999)} {rng.choice(US_STREETS)}"
    phone = ctx.noise.phone(ctx.factory.mobile(p.cn, city), "CN", "typed")
    postcode = city.postcode_prefix + (f"{rng.randrange(1000):03d}" if p.cn else "01")
    return (
        name,
        phone,
        {"line1": line1, "city": city.name, "postcode": postcode, "country": city.country},
    )


def shop_orders(ctx: Ctx, p: Person, household: list[Person]) -> None:
    """0–6 orders from the web shop for a person with an online account."""
    if not p.user_id:
        return
    rng = ctx.rng
    r = rng.random
    nz = ctx.noise
    n = rng.choices(range(7), cum_weights=_ORDER_CUM)[0]
    currency = "CNY" if p.cn else "USD"
    address = {
        "line1": p.address,
        "city": p.city.name,
        "postcode": p.postcode,
        "country": p.city.country,
    }
    for _ in range(n):
        t = ctx.when(p.since)
        if p.family_email and r() < 0.5:
            email = p.family_email
        else:
            email = p.email2 if p.email2 and r() < 0.3 else p.email
        x = r()
        email = "" if x < 0.03 else (nz.junk_email() if x < 0.04 else nz.email(email, 0.05))
        phone = nz.phone_field(p.phone_at(t), "CN", "typed", missing=0.08)
        name = nz.full_name(p, nick_p=0.10, typo_p=0.03, hanzi_p=0.6)
        x = r()
        if x < 0.05:  # a gift to a friend
            sname, sphone, saddr = _stranger(ctx, p)
            ship = {"name": sname, "phone": sphone, "address": saddr}
        elif x < 0.20 and len(household) > 1:  # for another member of the household
            other = household[rng.randrange(len(household))]
            ship = {
                "name": nz.full_name(other, 0.1, 0.02, 0.6),
                "phone": nz.phone(other.phone_at(t), "CN", "typed"),
                "address": address,
            }
        else:
            ship = {"name": name, "phone": phone, "address": address}
        items, total = _items(ctx, p.cn)
        order_id = f"SO-{ctx.next_id('order'):09d}"
        obj = {
            "order_id": order_id,
            "created_at": ctx.clock.iso(t),
            "buyer": {"user_id": p.user_id, "email": email, "phone": phone, "name": name},
            "shipping": ship,
            "total": total,
            "currency": currency,
            "items": items,
        }
        ctx.sinks.json("shop_orders", obj, order_id, p.pid)


def _card(ctx: Ctx, card: str) -> str:
    """Cards are scanned (canonical) or keyed in by the cashier (spaces, lower case)."""
    x = ctx.rng.random()
    if x < 0.05:
        return f"{card[:2]} {card[2:6]} {card[6:10]} {card[10:]}"
    if x < 0.08:
        return card.lower()
    return card


def pos_receipts(ctx: Ctx, p: Person) -> None:
    """1–4 till receipts for an in-store shopper.

    Persons in a recycled-number pair always get one receipt showing the number on the
    right side of the cutoff, so every sample contains that hard negative.
    """
    if not p.in_pos:
        return
    rng = ctx.rng
    r = rng.random
    nz = ctx.noise
    currency = "CNY" if p.cn else "USD"
    stores = p.city.stores
    for i in range(rng.randint(1, 4)):
        forced = i == 0 and p.recycle != ""
        if forced and p.recycle == "donor":
            t = ctx.when(p.since, RECYCLE_CUTOFF - DAY)
        elif forced:
            t = ctx.when(RECYCLE_CUTOFF + DAY)
        else:
            t = ctx.when(p.since)
        store = stores[rng.randrange(len(stores))]
        card = _card(ctx, p.loyalty) if p.loyalty and r() < 0.85 else ""
        x = r()
        if forced:  # scanned from the member app: always complete and parseable
            ph = p.phone_at(t)
            phone = ph.nsn if ph.cc == "86" else f"+1{ph.nsn}"
        elif x < 0.40:
            phone = ""
        elif x < 0.41:
            phone = nz.junk_phone()
        else:
            ph = p.landline if p.landline is not None and r() < 0.5 else p.phone_at(t)
            phone = nz.masked(ph) if r() < 0.25 else nz.phone(ph, "CN", "digits")
        amount = (r() * r() * 2000 + 9) if p.cn else (r() * r() * 300 + 2)
        local = t + p.city.tz_offset_h * 3600
        row = [
            f"{store}-{ctx.next_id('receipt'):08d}",
            store,
            ctx.clock.slash_minute(local),
            card,
            phone,
            f"{amount:.2f}",
            currency,
        ]
        ctx.sinks.row("pos_receipts", row, p.pid)
