"""`onefold sources add-http`: the mapping of a source whose messages arrive over HTTP.

Every Segment-spec SDK puts the same fragments in the same places, so one mapping fits them
all: `userId` and `anonymousId` (and an alias's `previousId`, the id being replaced); traits
at the top level (identify) or in `context.traits` (rudder-sdk, analytics.js after identify),
which the server's envelope lays together as `traits` (see `collect.messages`); the device id
of mobile SDKs in `context.device.id`. `event_time` is `timestamp`, which the server has
already corrected for the client's clock by the time it is read.
"""

from __future__ import annotations

import re
from pathlib import Path

from onefold.errors import ConfigError
from onefold.schema import Channel

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

TEMPLATE = """\
# Messages of the Segment HTTP Tracking API, collected by `onefold serve`
# (analytics.js, analytics-node, analytics-python, rudder-sdk…). Created by
# `onefold sources add-http {name}`; edit freely.
name: {name}
description: {description}
format: segment
channel: {channel}
system: Segment HTTP API
update_frequency: realtime
record_key: messageId
phone_region: [{regions}]
event_time: timestamp
event_type_field: [event, name, type]
identifiers:
  user_id: userId
  anonymous_id: [anonymousId, previousId]
  device_id: context.device.id
  email: traits.email
  phone: traits.phone
traits:
  full_name: traits.name
  first_name: traits.firstName
  last_name: traits.lastName
  birth_date: traits.birthday
  gender: traits.gender
  city: traits.address.city
  country: traits.address.country
order:  # Order Completed and friends carry revenue; other events have none
  amount: properties.revenue
  currency: properties.currency
"""


def http_source_yaml(
    name: str,
    channel: Channel = "online",
    regions: tuple[str, ...] = ("US",),
    description: str = "",
) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"source name {name!r}: use lower-case letters, digits and _ (e.g. web_app)"
        )
    return TEMPLATE.format(
        name=name,
        channel=channel,
        regions=", ".join(regions),
        description=description or f"Events sent to onefold serve by the {name} SDKs",
    )


def write_http_source(sources_dir: Path, name: str, **options: object) -> Path:
    """Write `sources/NAME.yml`; refuses to overwrite an existing mapping."""
    path = sources_dir / f"{name}.yml"
    if path.exists() or (sources_dir / f"{name}.yaml").exists():
        raise ConfigError(f"{path}: a source named {name!r} exists already")
    sources_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(http_source_yaml(name, **options), encoding="utf-8")  # type: ignore[arg-type]
    return path
