"""Canonical vocabulary shared by every stage: identifier types, channels, trait kinds.

Stages never import each other; they meet in tables (created by `engine/migrations.py` or
rebuilt by the stage that owns them; the README's architecture diagram lists them).
"""

from __future__ import annotations

from typing import Literal

#: Built-in identifier types, highest priority first. Custom types are declared in onefold.yml.
BUILTIN_ID_TYPES: tuple[str, ...] = (
    "user_id",
    "loyalty_card",
    "wechat_unionid",
    "wechat_openid",
    "email",
    "phone",
    "order_id",
    "device_id",
    "anonymous_id",
)

#: Which normaliser turns a raw value of an identifier type into its canonical form.
IdNormaliser = Literal["email", "phone", "exact", "lower", "compact_upper"]

BUILTIN_ID_NORMALISERS: dict[str, IdNormaliser] = {
    "user_id": "exact",
    "loyalty_card": "compact_upper",
    "wechat_unionid": "exact",
    "wechat_openid": "exact",
    "email": "email",
    "phone": "phone",
    "order_id": "exact",
    "device_id": "lower",
    "anonymous_id": "lower",
}

Channel = Literal["online", "offline"]

#: Trait kinds pick the normaliser applied to a trait's raw values.
TraitKind = Literal["name", "date", "country", "gender", "text", "number", "email", "phone"]

#: Well-known trait names get a kind without the mapping having to say so.
DEFAULT_TRAIT_KINDS: dict[str, TraitKind] = {
    "full_name": "name",
    "first_name": "name",
    "last_name": "name",
    "nickname": "name",
    "birth_date": "date",
    "country": "country",
    "gender": "gender",
}
