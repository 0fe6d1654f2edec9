"""Source mappings: one YAML file per source saying where its data is and what each field means.

A mapping is the contract between a channel's export and onefold's canonical tables. Field
references are dotted paths into the record (`buyer.email`, `context.device.id`,
`items[0].sku`); CSV and spreadsheet columns are top-level keys. Validated with pydantic so a
mistake names the file, the key and what was expected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from onefold.config._yaml import explain_validation, read_yaml
from onefold.errors import ConfigError
from onefold.schema import DEFAULT_TRAIT_KINDS, Channel, TraitKind

#: `segment`: messages of the Segment HTTP API, collected by `onefold serve` (no file).
Format = Literal["csv", "jsonl", "json", "parquet", "xlsx", "segment"]

_FREQ = re.compile(r"^(realtime|hourly|daily|weekly|monthly|\d+[mhdw])$")
_FREQ_SECONDS = {
    "realtime": 3600,
    "hourly": 3600,
    "daily": 86400,
    "weekly": 7 * 86400,
    "monthly": 31 * 86400,
}
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PATH = re.compile(r"^[^.\[\]]+(\[\d+\])?(\.[^.\[\]]+(\[\d+\])?)*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """One mapped field. In YAML either a bare path string or `{field: path, …}`."""

    field: str = Field(description="dotted path of the field in the record")
    kind: TraitKind | None = Field(default=None, description="normaliser for a trait")
    formats: tuple[str, ...] = Field(default=(), description="strptime formats for dates")

    @field_validator("field")
    @classmethod
    def _valid_path(cls, v: str) -> str:
        if not _PATH.match(v):
            raise ValueError("expected a dotted path such as 'buyer.email' or 'items[0].sku'")
        return v

    def json_path(self) -> str:
        """The field as a JSON path for the engine: `a.b[0]` → `$."a"."b"[0]`."""
        parts = []
        for part in self.field.split("."):
            m = re.match(r"^(.*?)((\[\d+\])*)$", part)
            assert m is not None
            key = m.group(1).replace('"', '\\"')
            parts.append(f'"{key}"{m.group(2)}')
        return "$." + ".".join(parts)


def _as_specs(value: Any) -> Any:
    """Accept a path, a list of paths, a dict spec or a list of dict specs."""
    items = value if isinstance(value, list) else [value]
    return [{"field": i} if isinstance(i, str) else i for i in items]


class ConsentSpec(_Strict):
    """A field that carries consent for one purpose (e.g. email_marketing)."""

    field: str
    granted_values: tuple[str, ...] = ("true", "1", "yes", "y", "opt_in", "opted_in", "subscribed")
    revoked_values: tuple[str, ...] = (
        "false",
        "0",
        "no",
        "n",
        "opt_out",
        "opted_out",
        "unsubscribed",
    )


class OrderSpec(_Strict):
    """Marks records of this source as orders: their amount counts towards revenue."""

    amount: str
    currency: str | None = None


class EventTimeSpec(_Strict):
    field: str
    formats: tuple[str, ...] = ()


class SourceMapping(_Strict):
    """Everything onefold needs to know about one source. See the README for a walk-through."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    path: str | None = Field(
        default=None, description="file path or glob, relative to the workspace"
    )
    format: Format
    channel: Channel
    system: str = Field(default="", description="the system that exports it, e.g. 'Salesforce'")
    update_frequency: str = Field(default="daily")
    record_key: str = Field(description="field that identifies a record within the source")
    event_time: EventTimeSpec | None = None
    event_type: str | None = Field(default=None, description="constant type for the timeline")
    event_type_field: tuple[str, ...] = Field(
        default=(), description="fields holding the type; the first non-empty one wins"
    )
    phone_region: tuple[str, ...] = Field(
        default=("US",), description="default region(s) for phones without +; tried in order"
    )
    csv_delimiter: str = ","
    identifiers: dict[str, tuple[FieldSpec, ...]] = Field(default_factory=dict)
    traits: dict[str, FieldSpec] = Field(default_factory=dict)
    consent: dict[str, ConsentSpec] = Field(default_factory=dict)
    order: OrderSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("identifiers"), dict):
            data["identifiers"] = {k: _as_specs(v) for k, v in data["identifiers"].items()}
        if isinstance(data.get("traits"), dict):
            data["traits"] = {
                k: ({"field": v} if isinstance(v, str) else v) for k, v in data["traits"].items()
            }
        if isinstance(data.get("consent"), dict):
            data["consent"] = {
                k: ({"field": v} if isinstance(v, str) else v) for k, v in data["consent"].items()
            }
        if isinstance(data.get("phone_region"), str):
            data["phone_region"] = [data["phone_region"]]
        if isinstance(data.get("event_type_field"), str):
            data["event_type_field"] = [data["event_type_field"]]
        if isinstance(data.get("event_time"), str):
            data["event_time"] = {"field": data["event_time"]}
        return data

    @field_validator("phone_region")
    @classmethod
    def _valid_regions(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        import phonenumbers

        bad = [r for r in v if r not in phonenumbers.SUPPORTED_REGIONS]
        if bad or not v:
            raise ValueError(f"expected ISO 3166 region codes such as CN or US, got {bad or v}")
        return v

    @field_validator("update_frequency")
    @classmethod
    def _valid_frequency(cls, v: str) -> str:
        if not _FREQ.match(v):
            raise ValueError("expected realtime, hourly, daily, weekly, monthly or e.g. '6h', '2d'")
        return v

    @model_validator(mode="after")
    def _traits_have_kinds(self) -> SourceMapping:
        fixed = {}
        for name, spec in self.traits.items():
            if spec.kind is None:
                fixed[name] = spec.model_copy(
                    update={"kind": DEFAULT_TRAIT_KINDS.get(name, "text")}
                )
            else:
                fixed[name] = spec
        object.__setattr__(self, "traits", fixed)
        if self.event_type and self.event_type_field:
            raise ValueError("give either event_type or event_type_field, not both")
        if self.path is None and not self.collected:
            raise ValueError(f"path: required for a {self.format} source")
        return self

    @property
    def collected(self) -> bool:
        """Sent to `onefold serve` over HTTP rather than loaded from files."""
        return self.format == "segment"

    @property
    def freshness_seconds(self) -> int:
        """How old the newest load may be before the source counts as stale."""
        f = self.update_frequency
        if f in _FREQ_SECONDS:
            return _FREQ_SECONDS[f]
        return int(f[:-1]) * _UNIT_SECONDS[f[-1]]

    def files(self, workspace: Path) -> list[Path]:
        """The files this mapping currently matches, sorted for a deterministic load order."""
        if self.path is None:
            return []
        pattern = Path(self.path)
        if pattern.is_absolute():
            return sorted(p for p in Path(pattern.anchor).glob(str(pattern)[1:]) if p.is_file())
        return sorted(p for p in workspace.glob(self.path) if p.is_file())


def load_mapping(path: Path, id_types: set[str] | None = None) -> SourceMapping:
    """Read and validate one mapping file; unknown identifier types are named with the known."""
    data = read_yaml(path)
    try:
        mapping = SourceMapping.model_validate(data)
    except ValidationError as exc:
        raise explain_validation(path, exc) from exc
    if id_types is not None:
        unknown = sorted(set(mapping.identifiers) - id_types)
        if unknown:
            raise ConfigError(
                f"{path}: identifiers.{unknown[0]}: unknown identifier type {unknown[0]!r}. "
                f"Known: {', '.join(sorted(id_types))} (declare custom ones in onefold.yml "
                "under identity.custom_identifiers)."
            )
    return mapping


def load_mappings(folder: Path, id_types: set[str] | None = None) -> dict[str, SourceMapping]:
    """All `*.yml` mappings in `folder`, checked together so every broken file is reported."""
    mappings: dict[str, SourceMapping] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml")):
        try:
            m = load_mapping(path, id_types)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if m.name in mappings:
            problems.append(f"{path}: name: source {m.name!r} is defined twice")
        mappings[m.name] = m
    if problems:
        raise ConfigError("\n".join(problems))
    return mappings
