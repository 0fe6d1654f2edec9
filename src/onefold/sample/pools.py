"""Static value pools the generator draws from: names, places, providers, products, devices.

Everything expensive (pinyin of Chinese names, cumulative weights) is computed once when the
pools are built, so the per-person loop only does cheap `rng.choices`/`rng.random` calls.
Name lists are deliberately small and frequency-weighted: real populations are full of
people who share a name (张伟, 王芳, John Smith), and the resolver must not merge them.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from pypinyin import Style, lazy_pinyin

# fmt: off
# Surname → weight (roughly the 2020 census order: 王 李 张 刘 陈 …).
CN_SURNAMES: dict[str, int] = {
    "王": 72, "李": 70, "张": 66, "刘": 53, "陈": 45, "杨": 31, "黄": 25, "赵": 20, "吴": 20,
    "周": 19, "徐": 15, "孙": 14, "马": 13, "朱": 13, "胡": 12, "郭": 11, "何": 10, "林": 10,
    "高": 10, "罗": 9, "郑": 9, "梁": 8, "谢": 7, "宋": 7, "唐": 7, "许": 6, "韩": 6, "冯": 6,
    "邓": 6, "曹": 5, "彭": 5, "曾": 5, "肖": 5, "田": 4, "董": 4, "潘": 4, "袁": 4, "蔡": 4,
    "蒋": 4, "余": 4, "于": 4, "杜": 3, "叶": 3, "程": 3, "魏": 3, "吕": 3,
}
# pypinyin reads these surnames with their common-word reading; fix them once here.
_SURNAME_PINYIN = {"曾": "Zeng", "单": "Shan", "解": "Xie", "仇": "Qiu", "查": "Zha"}

CN_GIVEN_M: dict[str, int] = {
    "伟": 40, "强": 20, "磊": 20, "军": 18, "勇": 16, "杰": 16, "涛": 14, "斌": 12, "超": 12,
    "明": 12, "刚": 10, "平": 10, "辉": 10, "鹏": 9, "华": 9, "飞": 8, "鑫": 8, "波": 8,
    "宇": 8, "浩": 8, "俊": 6, "建华": 6, "建国": 6, "志强": 6, "晓东": 5, "子轩": 5,
    "浩然": 5, "海涛": 4, "国强": 4, "文博": 3,
}
CN_GIVEN_F: dict[str, int] = {
    "芳": 40, "娜": 30, "敏": 25, "静": 25, "丽": 20, "艳": 16, "秀英": 16, "娟": 14, "霞": 12,
    "婷": 12, "雪": 10, "琳": 10, "欣怡": 8, "梓涵": 8, "丹": 8, "玲": 8, "桂英": 6,
    "秀兰": 6, "玉兰": 5, "萍": 6, "红": 6, "晶": 5, "慧": 5, "颖": 5, "倩": 5, "雨涵": 4,
}

US_FIRST_M: dict[str, int] = {
    "James": 33, "John": 33, "Robert": 31, "Michael": 30, "William": 25, "David": 24,
    "Richard": 15, "Joseph": 13, "Thomas": 12, "Christopher": 12, "Charles": 11,
    "Daniel": 11, "Matthew": 9, "Anthony": 7, "Mark": 7, "Steven": 6, "Paul": 6, "Andrew": 6,
    "Kevin": 5, "Brian": 5, "Jason": 4, "Ryan": 4, "Eric": 4, "Kenneth": 3,
}
US_FIRST_F: dict[str, int] = {
    "Mary": 35, "Patricia": 16, "Jennifer": 16, "Linda": 15, "Elizabeth": 15, "Barbara": 12,
    "Susan": 11, "Jessica": 9, "Sarah": 9, "Karen": 9, "Katherine": 8, "Margaret": 8,
    "Lisa": 8, "Nancy": 7, "Emily": 7, "Ashley": 6, "Michelle": 6, "Amanda": 5, "Laura": 5,
    "Rebecca": 4, "Emma": 4, "Olivia": 4, "Ann": 4,
}
US_LAST: dict[str, int] = {
    "Smith": 30, "Johnson": 25, "Williams": 20, "Brown": 18, "Jones": 17, "Garcia": 12,
    "Miller": 12, "Davis": 12, "Rodriguez": 10, "Martinez": 10, "Hernandez": 9, "Lopez": 8,
    "Wilson": 8, "Anderson": 8, "Thomas": 7, "Taylor": 7, "Moore": 7, "Jackson": 6,
    "Martin": 6, "Lee": 6, "Thompson": 5, "White": 5, "Harris": 5, "Clark": 4, "Lewis": 4,
    "Walker": 4, "Young": 4, "Allen": 3, "King": 3, "Wright": 3, "Nguyen": 3, "Chen": 3,
}
# Formal first name → the nicknames people actually give to sales staff and agents.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "William": ("Bill", "Will"), "Robert": ("Bob", "Rob"), "Elizabeth": ("Liz", "Beth"),
    "Katherine": ("Kate", "Katie"), "Michael": ("Mike",), "James": ("Jim", "Jimmy"),
    "Jennifer": ("Jen", "Jenny"), "Christopher": ("Chris",), "Margaret": ("Peggy", "Maggie"),
    "Richard": ("Dick", "Rick"), "Joseph": ("Joe",), "Thomas": ("Tom",), "Daniel": ("Dan",),
    "Anthony": ("Tony",), "Patricia": ("Pat", "Patty"), "Susan": ("Sue",),
    "Rebecca": ("Becky",), "Steven": ("Steve",), "Matthew": ("Matt",), "Andrew": ("Andy",),
}

# WeChat nicknames are rarely the real name: emoji, slogans, English names, the
# anonymised "微信用户" the API returns since 2021.
WECHAT_NICKS: tuple[str, ...] = (
    "微信用户", "阳光男孩", "小确幸", "Lucy", "Kevin", "静待花开", "🍀", "A咖啡", "追风少年",
    "Sunny☀️", "momo", "岁月静好", "Coco", "🌸小花", "Jason", "一路向北", "淡定", "Tony老师",
)

US_STREETS = ("Main St", "Oak Ave", "Pine St", "Maple Ave", "Cedar Ln", "Elm St", "Park Ave",
              "Washington Blvd", "Lake St", "Hill Rd", "Sunset Blvd", "Market St")
CN_ROADS = ("人民", "解放", "中山", "建设", "和平", "长江", "南京", "延安", "淮海", "科技")
CN_DISTRICTS = ("朝阳", "海淀", "浦东", "徐汇", "天河", "南山", "西湖", "武侯", "福田", "静安")

# fmt: on


@dataclass(frozen=True, slots=True)
class City:
    """A city with what addresses and phones there look like."""

    name: str  # as a local system writes it
    name_en: str
    country: str  # ISO alpha-2
    postcode_prefix: str
    area_codes: tuple[str, ...]  # US area codes / CN landline area codes (no trunk 0)
    stores: tuple[str, ...]  # store ids of Lumen & Co. in this city
    tz_offset_h: int


# fmt: off
CN_CITIES: tuple[City, ...] = (
    City("上海", "Shanghai", "CN", "200", ("21",), ("SH01", "SH02", "SH03"), 8),
    City("北京", "Beijing", "CN", "100", ("10",), ("BJ01", "BJ02"), 8),
    City("广州", "Guangzhou", "CN", "510", ("20",), ("GZ01",), 8),
    City("深圳", "Shenzhen", "CN", "518", ("755",), ("SZ01", "SZ02"), 8),
    City("杭州", "Hangzhou", "CN", "310", ("571",), ("HZ01",), 8),
    City("成都", "Chengdu", "CN", "610", ("28",), ("CD01",), 8),
)
CN_CITY_W = (30, 25, 12, 15, 10, 8)
US_CITIES: tuple[City, ...] = (
    City("New York", "New York", "US", "100", ("212", "646"), ("NY01", "NY02"), -5),
    City("San Francisco", "San Francisco", "US", "941", ("415",), ("SF01",), -8),
    City("Los Angeles", "Los Angeles", "US", "900", ("310",), ("LA01", "LA02"), -8),
    City("Chicago", "Chicago", "US", "606", ("312",), ("CH01",), -6),
    City("Boston", "Boston", "US", "021", ("617",), ("BO01",), -5),
    City("Seattle", "Seattle", "US", "981", ("206",), ("SE01",), -8),
)
US_CITY_W = (30, 15, 20, 15, 10, 10)

CN_MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150",
                      "151", "152", "155", "156", "157", "158", "159", "180", "181", "182",
                      "186", "187", "188", "189", "191", "198", "199")

CN_EMAIL_DOMAINS = {"qq.com": 40, "163.com": 25, "126.com": 10, "sina.com": 4,
                    "gmail.com": 6, "outlook.com": 5, "hotmail.com": 4, "icloud.com": 6}
US_EMAIL_DOMAINS = {"gmail.com": 45, "yahoo.com": 15, "outlook.com": 12, "hotmail.com": 10,
                    "icloud.com": 12, "aol.com": 3, "comcast.net": 3}

# sku → (name, price in USD); CNY prices are derived once in Pools.
PRODUCTS: tuple[tuple[str, str, float], ...] = (
    ("LM-1001", "Linen Shirt", 59.0), ("LM-1002", "Wool Scarf", 39.0),
    ("LM-1003", "Leather Tote", 189.0), ("LM-1004", "Desk Lamp", 79.0),
    ("LM-1005", "Ceramic Mug", 18.0), ("LM-1006", "Scented Candle", 24.0),
    ("LM-1007", "Throw Blanket", 99.0), ("LM-1008", "Sneakers", 129.0),
    ("LM-1009", "Notebook Set", 15.0), ("LM-1010", "Sunglasses", 149.0),
    ("LM-1011", "Water Bottle", 29.0), ("LM-1012", "Silk Pillowcase", 69.0),
)
PRODUCT_W = (12, 10, 4, 6, 14, 12, 5, 6, 10, 4, 9, 6)
USD_CNY = 7.1

CAMPAIGNS = ("2023-spring-sale", "2023-618", "2023-black-friday", "2024-new-year",
             "2024-spring-collection", "2024-618", "2024-singles-day", "2024-holiday",
             "2025-cny", "2025-spring-sale", "weekly-digest", "loyalty-points-reminder")
CALL_REASONS = ("order_status", "return_request", "delivery_delay", "loyalty_points",
                "product_question", "complaint", "change_address", "store_hours")
TIERS = ("Bronze", "Silver", "Gold", "Platinum")
TIER_W = (60, 25, 12, 3)

IOS_MODELS = (("Apple", "iPhone14,5"), ("Apple", "iPhone15,2"), ("Apple", "iPhone16,1"),
              ("Apple", "iPad13,18"))
ANDROID_MODELS = (("HUAWEI", "ALN-AL00"), ("Xiaomi", "23049RAD8C"), ("OPPO", "PHB110"),
                  ("vivo", "V2309A"), ("samsung", "SM-S9180"), ("Google", "Pixel 8"))
TABLET_MODELS = (("Apple", "iPad13,18"), ("samsung", "SM-X710"))

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; 23049RAD8C) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI",
)
WEB_PAGES = (("/", "Lumen & Co. | Home"), ("/new", "New Arrivals | Lumen & Co."),
             ("/sale", "Sale | Lumen & Co."), ("/account", "My Account | Lumen & Co."),
             ("/stores", "Find a Store | Lumen & Co."), ("/cart", "Cart | Lumen & Co."))
WEB_TRACK = ("Product Viewed", "Product Added", "Checkout Started")
APP_SCREENS = ("Home", "Product Detail", "Cart", "Store Locator", "Rewards")
APP_TRACK = ("Product Viewed", "Product Added", "Checkout Started", "Application Opened")
# fmt: on


def _cum(weights: tuple[int, ...] | list[int]) -> list[int]:
    return list(accumulate(weights))


def _pinyin_word(chars: str) -> str:
    """`秀英` → `Xiuying`: the passport spelling of a given name."""
    return "".join(lazy_pinyin(chars, style=Style.NORMAL)).capitalize()


@dataclass(frozen=True, slots=True)
class NamePool:
    """Names with their cumulative weights and (for Chinese) precomputed pinyin."""

    names: tuple[str, ...]
    cum: list[int]
    pinyin: dict[str, str]


def _pool(weights: dict[str, int], pinyin: bool, surnames: bool = False) -> NamePool:
    names = tuple(weights)
    py: dict[str, str] = {}
    if pinyin:
        for n in names:
            py[n] = _SURNAME_PINYIN.get(n, "") if surnames else ""
            py[n] = py[n] or _pinyin_word(n)
    else:
        py = {n: n for n in names}
    return NamePool(names, _cum(list(weights.values())), py)


class Pools:
    """All pools, built once per `generate` call (pinyin conversion happens here only)."""

    def __init__(self) -> None:
        self.cn_last = _pool(CN_SURNAMES, pinyin=True, surnames=True)
        self.cn_first_m = _pool(CN_GIVEN_M, pinyin=True)
        self.cn_first_f = _pool(CN_GIVEN_F, pinyin=True)
        self.us_last = _pool(US_LAST, pinyin=False)
        self.us_first_m = _pool(US_FIRST_M, pinyin=False)
        self.us_first_f = _pool(US_FIRST_F, pinyin=False)
        self.cn_city_cum = _cum(CN_CITY_W)
        self.us_city_cum = _cum(US_CITY_W)
        self.cn_domains = tuple(CN_EMAIL_DOMAINS)
        self.cn_domain_cum = _cum(list(CN_EMAIL_DOMAINS.values()))
        self.us_domains = tuple(US_EMAIL_DOMAINS)
        self.us_domain_cum = _cum(list(US_EMAIL_DOMAINS.values()))
        self.product_cum = _cum(PRODUCT_W)
        self.tier_cum = _cum(TIER_W)
        # price strings are formatted once, not per order line
        self.price_usd = tuple(p for _, _, p in PRODUCTS)
        self.price_cny = tuple(float(round(p * USD_CNY)) for _, _, p in PRODUCTS)
