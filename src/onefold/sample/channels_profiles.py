"""Systems that describe a person: CRM contacts, loyalty members, WeChat followers, call logs.

Each function writes the rows one system would export for one person, carrying only what that
system knows (the call switch knows a caller number and what the agent heard, not an email).
Snapshot systems (CRM, loyalty) show the phone the person had when the row was last touched,
which is what makes recycled numbers show up on two unrelated persons.
"""

from __future__ import annotations

from onefold.sample.context import Ctx
from onefold.sample.people import Person
from onefold.sample.pools import CALL_REASONS, TIERS, WECHAT_NICKS
from onefold.sample.timefmt import DAY, END

_COUNTRY = {
    True: ("China", "CN", "China", "CHN"),
    False: ("United States", "US", "USA", "United States"),
}


def crm_contact(ctx: Ctx, p: Person) -> None:
    """One Salesforce-style contact; ≈50% of persons (more often US customers)."""
    if not p.in_crm:
        return
    r = ctx.rng.random
    nz = ctx.noise
    created = ctx.when(p.since, min(END, p.since + 60 * DAY))
    modified = ctx.when(created)
    first, last = nz.first_last(p, nick_p=0.10, typo_p=0.05, hanzi_p=0.5)
    if r() < 0.01:
        first, last = nz.junk_name(), ""
    if p.family_email and r() < 0.7:
        email = p.family_email
    else:
        email = p.email2 if p.email2 and r() < 0.3 else p.email
    email = nz.email(email, 0.08)
    x = r()
    if x < 0.07:
        email = ""
    elif x < 0.08:
        email = nz.junk_email()
    mobile = nz.phone_field(p.phone_at(modified), "US", "typed", missing=0.10)
    birth = "" if r() < 0.15 else nz.birth(p, day_first=False)
    gender = "" if r() < 0.10 else p.gender
    countries = _COUNTRY[p.cn]
    country = "" if r() < 0.05 else countries[ctx.rng.randrange(4)]
    opt = "true" if p.opt_in else "false"
    row = [
        f"003Lm{ctx.next_id('crm'):010d}",
        first,
        last,
        email,
        mobile,
        birth,
        gender,
        country,
        p.user_id,
        opt,
        ctx.clock.us_ampm(created),
        ctx.clock.us_ampm(modified),
    ]
    ctx.sinks.row("crm_contacts", row, p.pid)


def loyalty_member(ctx: Ctx, p: Person) -> None:
    """The loyalty programme's member row for a card holder (≈45% of persons)."""
    if not p.loyalty:
        return
    r = ctx.rng.random
    nz = ctx.noise
    join = ctx.when(p.since, p.since + (END - p.since) // 2)
    name = nz.junk_name() if r() < 0.01 else nz.full_name(p, 0.10, 0.05, hanzi_p=0.7)
    mobile = nz.phone_field(p.phone_at(join), "CN", "digits", missing=0.05)
    email = "" if r() < 0.15 else nz.email(p.email, 0.05)
    birthday = "" if r() < 0.10 else nz.birth(p, day_first=True, swap_p=0.03)
    tier = ctx.rng.choices(TIERS, cum_weights=ctx.pools.tier_cum)[0]
    row = [p.loyalty, name, mobile, email, birthday, ctx.clock.day(join), tier]
    ctx.sinks.row("loyalty_members", row, p.pid)


def wechat_follower(ctx: Ctx, p: Person) -> None:
    """A follower of the brand's WeChat official account (≈60% of Chinese persons).

    Nicknames are what people call themselves on WeChat, rarely their legal name; the phone
    is only there when the follower bound it in the mini-program.
    """
    if not p.openid:
        return
    r = ctx.rng.random
    t = ctx.when(p.since)
    x = r()
    if x < 0.55:
        nick = WECHAT_NICKS[ctx.rng.randrange(len(WECHAT_NICKS))]
    elif x < 0.75:
        nick = p.first_py.lower() + ctx.rng.choice(("", "_", "❤️", "🌟"))
    elif x < 0.9:
        nick = p.last + p.first
    else:
        nick = f"{p.last_py} {p.first_py}"
    phone = "" if r() < 0.6 else ctx.noise.phone(p.phone_at(t), "CN", "digits")
    unionid = "" if r() < 0.08 else p.unionid
    subscribed = "0" if r() < 0.12 else "1"
    row = [p.openid, unionid, nick, phone, ctx.clock.sql(t), subscribed, p.city.name]
    ctx.sinks.row("wechat_followers", row, p.pid)


def call_center(ctx: Ctx, p: Person) -> None:
    """1–2 calls as the contact-centre switch logs them (≈15% of persons).

    Home landlines are shared by a household, so several persons call from one number.
    """
    if not p.in_call:
        return
    rng = ctx.rng
    r = rng.random
    nz = ctx.noise
    for _ in range(1 if r() < 0.6 else 2):
        t = ctx.when(p.since)
        x = r()
        if x < 0.02:
            number = ("Anonymous", "0000000000", "Unknown")[rng.randrange(3)]
        elif p.landline is not None and x < 0.6:
            number = nz.phone(p.landline, "US", "switch")
        else:
            ph = p.phone2 if p.phone2 is not None and r() < 0.2 else p.phone_at(t)
            number = nz.phone(ph, "US", "switch")
        x = r()
        if x < (0.2 if p.cn else 0.1):
            spoken = ""
        elif p.cn:
            spoken = nz.full_name(p, 0.0, 0.05, hanzi_p=0.25)
        else:
            spoken = nz.full_name(p, nick_p=0.15, typo_p=0.08)
        duration = 30 + int(r() * r() * 1800)
        reason = CALL_REASONS[rng.randrange(len(CALL_REASONS))]
        row = [
            f"CALL{ctx.next_id('call'):010d}",
            number,
            spoken,
            ctx.clock.sql(t),
            str(duration),
            reason,
        ]
        ctx.sinks.row("call_center", row, p.pid)
