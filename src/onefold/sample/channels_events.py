"""Behavioural events: Segment messages from the website and the app, email-tool activity.

The Segment messages follow the spec as analytics.js and the mobile SDKs send them: anonymous
before login (cookie or install id only), `identify` with traits at login, `userId` after.
Shared devices are the trap here: a family tablet and store demo tablets carry one device id
(and one install id) for many persons, each logged in as themselves.
"""

from __future__ import annotations

from typing import Any

from onefold.sample.context import Ctx
from onefold.sample.people import Device, Person, uuid4
from onefold.sample.pools import (
    APP_SCREENS,
    APP_TRACK,
    CAMPAIGNS,
    PRODUCTS,
    USER_AGENTS,
    WEB_PAGES,
    WEB_TRACK,
)
from onefold.sample.timefmt import DAY, END

_WEB_LIB = {"name": "analytics.js", "version": "4.15.3"}
_APP = {"build": "5210", "name": "Lumen", "namespace": "com.lumenco.app", "version": "5.2.1"}
_LIB = {
    "ios": {"name": "analytics-ios", "version": "4.1.8"},
    "android": {"name": "analytics-android", "version": "4.11.3"},
}
_OPENED = {"from_background": False, "build": "5210", "version": "5.2.1"}
_OS = {"ios": {"name": "iOS", "version": "17.4.1"}, "android": {"name": "Android", "version": "14"}}


def _traits(ctx: Ctx, p: Person, t: int, phone_p: float) -> dict[str, str]:
    nz = ctx.noise
    r = ctx.rng.random
    email = nz.junk_email() if r() < 0.01 else nz.email(p.email, 0.08)
    traits = {"email": email}
    if r() < phone_p:
        traits["phone"] = nz.phone(p.phone_at(t), "CN", "typed")
    traits["name"] = nz.full_name(p, nick_p=0.1, typo_p=0.02, hanzi_p=0.5)
    return traits


def _product(ctx: Ctx, cn: bool) -> dict[str, Any]:
    i = ctx.rng.choices(range(len(PRODUCTS)), cum_weights=ctx.pools.product_cum)[0]
    sku, name, _ = PRODUCTS[i]
    price = ctx.pools.price_cny[i] if cn else ctx.pools.price_usd[i]
    return {"product_id": sku, "name": name, "price": price, "currency": "CNY" if cn else "USD"}


def web_events(ctx: Ctx, p: Person) -> None:
    """2–8 analytics.js messages for a web visitor, over 1–3 browsers (cookies)."""
    if not p.in_web:
        return
    rng = ctx.rng
    r = rng.random
    clock = ctx.clock
    n = rng.randint(2, 8)
    t0 = ctx.when(p.since, END - 30 * DAY)
    times = sorted(t0 + int(r() * 30 * DAY) for _ in range(n))
    cookies = p.cookies
    login = rng.randint(1, n - 1) if p.user_id and r() < 0.6 else n
    host = "https://www.lumenco.cn" if p.cn else "https://www.lumenco.com"
    locale = "zh-CN" if p.cn else "en-US"
    agents = [USER_AGENTS[rng.randrange(len(USER_AGENTS))] for _ in cookies]
    ips = [
        f"{rng.randint(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"
        for _ in cookies
    ]
    prev = -1
    for i, t in enumerate(times):
        c = i * len(cookies) // n
        path, title = WEB_PAGES[rng.randrange(len(WEB_PAGES))]
        page = {"path": path, "referrer": "", "search": "", "title": title, "url": host + path}
        logged = i >= login
        msg: dict[str, Any] = {
            "anonymousId": cookies[c],
            "context": {
                "ip": ips[c],
                "library": _WEB_LIB,
                "locale": locale,
                "page": page,
                "userAgent": agents[c],
            },
            "integrations": {},
            "messageId": f"ajs-next-{rng.getrandbits(128):032x}",
        }
        if i == login or (logged and c != prev):  # logs in (again, in a new browser)
            msg["traits"] = _traits(ctx, p, t, 0.5)
            typ = "identify"
        elif r() < 0.5:
            msg["name"] = title.split(" |")[0]
            msg["properties"] = page
            typ = "page"
        else:
            msg["event"] = WEB_TRACK[rng.randrange(len(WEB_TRACK))]
            msg["properties"] = _product(ctx, p.cn)
            typ = "track"
        prev = c
        ms = rng.randrange(1000)
        msg["receivedAt"] = clock.iso_ms(t + 1, ms)
        msg["sentAt"] = clock.iso_ms(t, ms)
        msg["timestamp"] = clock.iso_ms(t, ms)
        msg["type"] = typ
        msg["userId"] = p.user_id if logged else None
        ctx.sinks.json("web_events", msg, msg["messageId"], p.pid)


def _app_session(ctx: Ctx, p: Person, dev: Device, n: int, login: int, t0: int) -> None:
    """`n` mobile-SDK messages from one device; `login` is the index of the identify call."""
    rng = ctx.rng
    r = rng.random
    clock = ctx.clock
    context = {
        "app": _APP,
        "device": {
            "id": dev.id,
            "manufacturer": dev.manufacturer,
            "model": dev.model,
            "type": dev.os,
        },
        "library": _LIB[dev.os],
        "locale": "zh-Hans-CN" if p.cn else "en-US",
        "network": {"wifi": r() < 0.6},
        "os": _OS[dev.os],
        "timezone": "Asia/Shanghai" if p.cn else "America/New_York",
    }
    upper = dev.os == "ios"  # NSUUID strings are upper case
    t = t0
    for i in range(n):
        t += int(r() * 3 * DAY)
        mid = uuid4(rng)
        msg: dict[str, Any] = {
            "anonymousId": dev.install_id,
            "context": context,
            "messageId": mid.upper() if upper else mid,
        }
        if i == login:
            msg["traits"] = _traits(ctx, p, t, 0.8)
            typ = "identify"
        elif r() < 0.5:
            screen = APP_SCREENS[rng.randrange(len(APP_SCREENS))]
            msg["name"] = screen
            msg["properties"] = {"name": screen}
            typ = "screen"
        else:
            event = APP_TRACK[rng.randrange(len(APP_TRACK))]
            msg["event"] = event
            msg["properties"] = _OPENED if event == "Application Opened" else _product(ctx, p.cn)
            typ = "track"
        ms = rng.randrange(1000)
        msg["receivedAt"] = clock.iso_ms(t + 2, ms)
        msg["sentAt"] = clock.iso_ms(t + 1, ms)
        msg["timestamp"] = clock.iso_ms(t, ms)
        msg["type"] = typ
        if i >= login:
            msg["userId"] = p.user_id
        ctx.sinks.json("app_events", msg, msg["messageId"], p.pid)


def app_events(ctx: Ctx, p: Person) -> None:
    """App messages from the person's own phone, the family tablet and store demo tablets."""
    rng = ctx.rng
    r = rng.random
    if p.device is not None:
        n = rng.randint(2, 6)
        login = rng.randrange(n) if p.user_id and r() < 0.8 else n
        _app_session(ctx, p, p.device, n, login, ctx.when(p.since, END - 20 * DAY))
    if p.tablet is not None:
        _app_session(
            ctx,
            p,
            p.tablet,
            rng.randint(2, 3),
            rng.randint(0, 1),
            ctx.when(p.since, END - 10 * DAY),
        )
    if p.demo_tablet is not None:
        _app_session(ctx, p, p.demo_tablet, rng.randint(1, 2), 0, ctx.when(p.since, END - 10 * DAY))


def email_engagement(ctx: Ctx, p: Person) -> None:
    """1–5 email-tool events (sent/open/click/unsubscribe) for an opted-in person."""
    if not p.opt_in:
        return
    rng = ctx.rng
    r = rng.random
    nz = ctx.noise
    clock = ctx.clock
    address = p.family_email if p.family_email and r() < 0.4 else p.email
    n = rng.randint(1, 5)
    t = ctx.when(p.since, END - 60 * DAY)
    campaign = CAMPAIGNS[rng.randrange(len(CAMPAIGNS))]
    for i in range(n):
        if i == 0:
            event = "subscribe" if r() < 0.2 else "sent"
        elif i == n - 1 and r() < 0.08:
            event = "unsubscribe"
        else:
            x = r()
            event = "open" if x < 0.45 else ("click" if x < 0.65 else "sent")
        if event == "sent":
            campaign = CAMPAIGNS[rng.randrange(len(CAMPAIGNS))]
            t += int(r() * 10 * DAY)
        else:
            t += int(r() * DAY)
        row = [
            f"evt_{ctx.next_id('email'):010d}",
            nz.email(address, 0.10),
            event,
            "" if event in ("subscribe", "unsubscribe") else campaign,
            clock.iso(t),
        ]
        ctx.sinks.row("email_engagement", row, p.pid)
