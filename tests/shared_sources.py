"""Sources and small helpers shared by the identity tests."""

from __future__ import annotations

from onefold import Workspace

#: A web shop's orders: every identifier type the guards care about, plus a name and a time.
SHOP = """\
name: shop
path: data/shop.csv
format: csv
channel: online
record_key: order
event_time: at
identifiers: {user_id: uid, email: email, phone: phone, device_id: device}
traits: {full_name: name}
"""
SHOP_HEAD = "order,uid,email,phone,device,name,at\n"


def profile_links(ws: Workspace) -> dict[str, str]:
    """record_key → profile_id for every record of the last run."""
    return dict(ws.engine.fetchall("SELECT record_key, profile_id FROM record_profiles"))


#: A CRM for probabilistic matching: people without shared identifiers (see `people_rows`).
PEOPLE_CRM = """\
name: crm
path: data/crm.csv
format: csv
channel: offline
record_key: id
identifiers: {user_id: uid, phone: phone}
traits:
  first_name: first
  last_name: last
  full_name: name
  birth_date: {field: dob, formats: ["%Y-%m-%d", "%d/%m/%Y"]}
  city: city
"""
PEOPLE_HEAD = "id,uid,phone,first,last,name,dob,city\n"
PEOPLE_MATCHING = """
matching:
  enabled: true
  comparisons:
    - {field: person_name, method: name, tf_adjust: true}
    - {field: birth_date, method: date}
    - {field: city, method: text}
    - {field: phone, method: phone}
  blocking:
    - ['birth_date[:4]']
    - [person_name]
  threshold: 0.95
"""


def people_rows(n: int, sep: str = "") -> str:
    """n people twice each: `a<i>` clean with an account id, `b<i>` with a surname typo, the
    date written day-first and no account id — only probabilistic matching can join them.
    `sep` goes between letter and number in the record key (`a/3` exercises reference
    parsing)."""
    first = ["Ann", "Bob", "Cara", "Dan", "Eve", "Finn", "Gus", "Hana", "Ida", "Jon"]
    last = ["Lee", "Moss", "Nash", "Orr", "Park", "Quinn", "Ross", "Shaw", "Tate", "Upton"]
    cities = ["Boston", "Denver", "Austin", "Tulsa"]
    rows = [PEOPLE_HEAD.rstrip("\n")]
    for i in range(n):
        f, la = first[i % 10], last[(i // 10) % 10]
        y, m, d = 1950 + i % 50, 1 + i % 12, 13 + i % 15
        city = cities[i % 4]
        rows.append(f"a{sep}{i},u-{i},,{f},{la},,{y}-{m:02d}-{d:02d},{city}")
        typo = la[:-1] + ("x" if la[-1] != "x" else "y")
        rows.append(f"b{sep}{i},,,,,{f} {typo},{d:02d}/{m:02d}/{y},{city}")
    return "\n".join(rows) + "\n"
