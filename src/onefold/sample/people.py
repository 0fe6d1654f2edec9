"""Persons and households: who exists, what identifiers they own, and which ones they share.

Persons are produced household by household so the generator can stream: a household (1–4
persons sharing an address) is the largest unit that has to be in memory at once. The hard
negatives the resolver must keep apart are created here, on purpose:

* households share an address; some share a family email, a home landline or a tablet;
* a few store demo tablets are used (logged in) by dozens of unrelated persons;
* recycled phone numbers: person A's old number is reassigned to unrelated person B later;
* common names from small weighted lists make many distinct persons share a name.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from onefold.sample.pools import (
    ANDROID_MODELS,
    CN_CITIES,
    CN_DISTRICTS,
    CN_MOBILE_PREFIXES,
    CN_ROADS,
    IOS_MODELS,
    NICKNAMES,
    TABLET_MODELS,
    US_CITIES,
    US_STREETS,
    City,
    NamePool,
    Pools,
)
from onefold.sample.timefmt import DAY, END, RECYCLE_CUTOFF, START

CN_SHARE = 0.55
HOUSEHOLD_UNIT_P = 0.077  # fraction of units that are multi-person → ≈20% of persons
_BIRTH_LO = date(1955, 1, 1).toordinal()
_BIRTH_HI = date(2005, 12, 31).toordinal()


@dataclass(slots=True)
class Phone:
    """A phone number by parts, rendered per system by `noise`."""

    cc: str  # "86" or "1"
    nsn: str  # national significant number: 13800138000, 1062345678, 4155552671
    area: int  # digits of the area code inside nsn; 0 for Chinese mobiles


@dataclass(slots=True)
class Device:
    """A phone or tablet running the Lumen app; `install_id` is Segment's anonymousId."""

    id: str
    install_id: str
    manufacturer: str
    model: str
    os: str  # "ios" | "android"


@dataclass(slots=True)
class Household:
    hid: int
    email: str = ""
    landline: Phone | None = None
    tablet: Device | None = None


@dataclass(slots=True)
class Person:
    idx: int
    pid: str
    cn: bool
    gender: str
    first: str  # CN: given name in characters
    last: str  # CN: surname in characters
    first_py: str  # CN: pinyin; US: same as first
    last_py: str
    nick: str  # US nickname ("" when the first name has none)
    birth: tuple[int, int, int]
    city: City
    address: str
    postcode: str
    email: str
    email2: str
    phone: Phone
    phone2: Phone | None
    since: int  # first time the person shows up anywhere
    user_id: str = ""
    loyalty: str = ""
    openid: str = ""
    unionid: str = ""
    device: Device | None = None
    cookies: list[str] = field(default_factory=list)
    opt_in: bool = False
    household: Household | None = None
    family_email: str = ""  # the household email this person uses too
    landline: Phone | None = None
    tablet: Device | None = None
    demo_tablet: Device | None = None
    old_phone: Phone | None = None  # mobile used before RECYCLE_CUTOFF
    recycle: str = ""  # "", "donor" or "receiver"
    in_crm: bool = False
    in_pos: bool = False
    in_web: bool = False
    in_call: bool = False

    def phone_at(self, t: int) -> Phone:
        """The mobile this person had at time `t` (differs only around recycled numbers)."""
        if self.old_phone is not None and t < RECYCLE_CUTOFF:
            return self.old_phone
        return self.phone


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID string from the seeded rng (uuid.uuid4 would not be reproducible)."""
    x = rng.getrandbits(128)
    h = f"{x:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[x & 3]}{h[17:20]}-{h[20:]}"


def _wechat_id(rng: random.Random, prefix: str) -> str:
    return prefix + base64.urlsafe_b64encode(rng.randbytes(21)).decode()[:27]


def _pick(rng: random.Random, pool: NamePool) -> str:
    return rng.choices(pool.names, cum_weights=pool.cum)[0]


def _scramble(idx: int, mult: int, mod: int) -> int:
    """A bijection on [0, mod): unique ids that do not look sequential."""
    return (idx * mult + 12345) % mod


class PersonFactory:
    """Yields households of persons; all randomness comes from the shared seeded rng."""

    def __init__(self, rng: random.Random, pools: Pools, persons: int) -> None:
        self.rng = rng
        self.pools = pools
        self.persons = persons
        self._hid = 0
        n_demo = max(2, persons // 2000)
        self.demo_tablets = [self._device(tablet=True) for _ in range(n_demo)]
        self.demo_left = [rng.randint(20, 60) for _ in range(n_demo)]
        # chance that a person with an account uses a demo tablet; slack so tablets fill up
        self.demo_p = min(0.9, 1.3 * sum(self.demo_left) / max(1.0, 0.65 * persons))
        # recycled numbers: donors come from the first half, receivers (same country, other
        # household) are drawn from the second half while numbers are waiting
        n_recycle = max(2, round(0.0025 * persons))
        self.donors = set(rng.sample(range(max(1, persons // 2)), min(persons // 2, n_recycle)))
        self.pending: dict[str, list[tuple[Phone, int]]] = {"86": [], "1": []}

    # -- identifiers -------------------------------------------------------------------------

    def mobile(self, cn: bool, city: City) -> Phone:
        rng = self.rng
        if cn:
            pre = CN_MOBILE_PREFIXES[rng.randrange(len(CN_MOBILE_PREFIXES))]
            return Phone("86", f"{pre}{rng.randrange(100_000_000):08d}", 0)
        area = city.area_codes[rng.randrange(len(city.area_codes))]
        ex = rng.randrange(200, 1000)
        if ex == 555 or ex % 100 == 11:
            ex += 1
        return Phone("1", f"{area}{ex}{rng.randrange(10_000):04d}", 3)

    def landline(self, cn: bool, city: City) -> Phone:
        rng = self.rng
        if cn:
            area = city.area_codes[0]
            nsn = f"{area}{rng.choice('23456')}{rng.randrange(10_000_000):07d}"
            return Phone("86", nsn, len(area))
        return self.mobile(False, city)

    def _device(self, tablet: bool = False) -> Device:
        rng = self.rng
        if tablet:
            man, model = TABLET_MODELS[rng.randrange(len(TABLET_MODELS))]
            os = "ios" if man == "Apple" else "android"
        elif rng.random() < 0.5:
            man, model = IOS_MODELS[rng.randrange(len(IOS_MODELS) - 1)]
            os = "ios"
        else:
            man, model = ANDROID_MODELS[rng.randrange(len(ANDROID_MODELS))]
            os = "android"
        dev_id = uuid4(rng)
        # iOS reports identifierForVendor in upper case; Android ids are lower-case
        return Device(dev_id.upper() if os == "ios" else dev_id, uuid4(rng), man, model, os)

    def _email(self, p: Person, second: bool) -> str:
        """Unique per person: the trailing number is a bijection of the person index."""
        rng = self.rng
        n = _scramble(p.idx, 2654435761, 10_000_000)
        first, last = p.first_py.lower(), p.last_py.lower()
        if p.cn:
            domain = rng.choices(self.pools.cn_domains, cum_weights=self.pools.cn_domain_cum)[0]
            if domain == "qq.com" and not second and rng.random() < 0.6:
                return f"{100000 + n * 3}@qq.com"  # QQ-number mail, digits only
        else:
            domain = rng.choices(self.pools.us_domains, cum_weights=self.pools.us_domain_cum)[0]
        r = rng.random()
        if r < 0.35:
            stem = f"{first}.{last}"
        elif r < 0.6:
            stem = f"{last}{first}" if p.cn else f"{first}{last}"
        elif r < 0.8:
            stem = f"{first[0]}{last}"
        else:
            stem = f"{last}.{first[0]}"
        sep = "_" if second else ""
        return f"{stem}{sep}{n}@{domain}"

    # -- persons and households ----------------------------------------------------------------

    def _person(
        self,
        idx: int,
        cn: bool,
        hh: Household | None,
        city: City,
        address: str,
        postcode: str,
        last: str | None,
    ) -> Person:
        rng = self.rng
        pools = self.pools
        gender = "F" if rng.random() < 0.52 else "M"
        if cn:
            last = last or _pick(rng, pools.cn_last)
            first = _pick(rng, pools.cn_first_f if gender == "F" else pools.cn_first_m)
            first_py = (pools.cn_first_f if gender == "F" else pools.cn_first_m).pinyin[first]
            last_py = pools.cn_last.pinyin[last]
            nick = ""
        else:
            last = last or _pick(rng, pools.us_last)
            first = _pick(rng, pools.us_first_f if gender == "F" else pools.us_first_m)
            first_py, last_py = first, last
            nicks = NICKNAMES.get(first)
            nick = nicks[rng.randrange(len(nicks))] if nicks else ""
        b = date.fromordinal(rng.randrange(_BIRTH_LO, _BIRTH_HI))
        phone = self.mobile(cn, city)
        p = Person(
            idx=idx,
            pid=f"P{idx + 1:07d}",
            cn=cn,
            gender=gender,
            first=first,
            last=last,
            first_py=first_py,
            last_py=last_py,
            nick=nick,
            birth=(b.year, b.month, b.day),
            city=city,
            address=address,
            postcode=postcode,
            email="",
            email2="",
            phone=phone,
            phone2=self.mobile(cn, city) if rng.random() < 0.08 else None,
            since=START + int(rng.random() * (END - START - 90 * DAY)),
            household=hh,
        )
        p.email = self._email(p, second=False)
        if rng.random() < 0.10:
            p.email2 = self._email(p, second=True)
        if rng.random() < 0.65:
            p.user_id = f"u-{_scramble(idx, 7919, 10_000_000):07d}"
        if rng.random() < 0.45:
            p.loyalty = f"LC{_scramble(idx, 48271, 10_000_000_000):010d}"
        if cn and rng.random() < 0.60:
            p.openid = _wechat_id(rng, "o")
            p.unionid = _wechat_id(rng, "u")
        app_p = 0.45 if p.user_id else 0.14
        if rng.random() < app_p:
            p.device = self._device()
        p.in_web = rng.random() < 0.70
        if p.in_web:
            p.cookies = [uuid4(rng) for _ in range(rng.randint(1, 3))]
        p.opt_in = rng.random() < (0.35 if cn else 0.60)
        p.in_crm = rng.random() < (0.40 if cn else 0.62)
        p.in_pos = rng.random() < (0.75 if p.loyalty else 0.30)
        p.in_call = rng.random() < (0.09 if cn else 0.22)
        if p.user_id and rng.random() < self.demo_p:
            for i, left in enumerate(self.demo_left):
                if left > 0:
                    self.demo_left[i] -= 1
                    p.demo_tablet = self.demo_tablets[i]
                    break
        self._recycle(p)
        return p

    def _recycle(self, p: Person) -> None:
        """Donors give up their number at the cutoff; receivers get it after the cutoff."""
        hid = p.household.hid if p.household else -1 - p.idx
        if p.idx in self.donors:
            self.pending[p.phone.cc].append((p.phone, hid))
            p.old_phone = p.phone
            p.phone = self.mobile(p.cn, p.city)
            p.recycle = "donor"
            p.since = min(p.since, RECYCLE_CUTOFF - 400 * DAY)
            p.in_pos = True
            return
        waiting = self.pending[p.phone.cc]
        if not waiting or p.idx < self.persons // 2:
            return
        # spread receivers over the second half but hand out every number before the end
        if self.rng.random() >= 3 * len(waiting) / max(1, self.persons - p.idx):
            return
        number, donor_hid = waiting[0]
        if donor_hid == hid:
            return
        waiting.pop(0)
        p.old_phone = p.phone
        p.phone = number
        p.recycle = "receiver"
        p.in_pos = True

    def households(self) -> Iterator[list[Person]]:
        """Persons in generation order, grouped by household (singletons are lists of one)."""
        rng = self.rng
        idx = 0
        while idx < self.persons:
            cn = rng.random() < CN_SHARE
            size = 1
            if rng.random() < HOUSEHOLD_UNIT_P:
                size = min(self.persons - idx, rng.choices((2, 3, 4), cum_weights=(45, 80, 100))[0])
            if cn:
                city = CN_CITIES[rng.choices(range(6), cum_weights=self.pools.cn_city_cum)[0]]
                address = (
                    f"{rng.choice(CN_DISTRICTS)}区{rng.choice(CN_ROADS)}路{rng.randint(1, 999)}号"
                    f"{rng.randint(1, 30)}栋{rng.randint(101, 2806)}室"
                )
            else:
                city = US_CITIES[rng.choices(range(6), cum_weights=self.pools.us_city_cum)[0]]
                address = f"{rng.randint(1, 9999)} {rng.choice(US_STREETS)}"
                if rng.random() < 0.4:
                    address += f", Apt {rng.randint(1, 40)}{rng.choice('ABCD')}"
            tail = f"{rng.randrange(1000):03d}" if cn else f"{rng.randrange(100):02d}"
            postcode = city.postcode_prefix + tail
            hh = None
            if size > 1:
                self._hid += 1
                hh = Household(self._hid)
            members: list[Person] = []
            family_last: str | None = None
            for _ in range(size):
                p = self._person(idx, cn, hh, city, address, postcode, family_last)
                members.append(p)
                idx += 1
                # children share the surname; spouses in China usually keep theirs
                if family_last is None or rng.random() < 0.5:
                    family_last = p.last if (not cn or rng.random() < 0.6) else None
            if hh is not None:
                self._share(hh, members)
            yield members

    def _share(self, hh: Household, members: list[Person]) -> None:
        """Give a household its shared identifiers and decide which members use them."""
        rng = self.rng
        head = members[0]
        if rng.random() < 0.30:
            domain = "qq.com" if head.cn else "gmail.com"
            stem = f"{head.last_py.lower()}{'jia' if head.cn else '.family'}"
            hh.email = f"{stem}{hh.hid}@{domain}"
            for p in members[: max(2, rng.randint(2, len(members)))]:
                p.family_email = hh.email
        if rng.random() < 0.20:
            hh.landline = self.landline(head.cn, head.city)
            for p in members:
                p.landline = hh.landline
                p.in_call = p.in_call or rng.random() < 0.5
        if rng.random() < 0.15:
            hh.tablet = self._device(tablet=True)
            for p in members[: max(2, rng.randint(2, len(members)))]:
                p.tablet = hh.tablet
                if not p.user_id:
                    p.user_id = f"u-{_scramble(p.idx, 7919, 10_000_000):07d}"
