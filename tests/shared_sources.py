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
