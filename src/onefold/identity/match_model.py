"""The trained matching model, kept in the workspace: train once, score many times.

Production record linkers learn their parameters in a training run and then score new
records with them (Splink: train, then `predict`); re-learning on every arrival would make
each pair's score depend on when it was scored. A full run that trains stores here what
scoring needs to be reproduced exactly — m and u per comparison level, the priors, and the
term-frequency table that rare-value agreement is weighted by — and every later run, full or
incremental, scores with it. A run trains again only when there is no stored model, when the
matching settings it was trained under changed (its fingerprint), or when asked to
(`onefold resolve --retrain`, `Workspace.resolve(retrain=True)`): then "an incremental run
gives what a full re-run gives" is well defined — same data, same model, same profiles.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson

from onefold.config.settings import MatchingSettings
from onefold.engine.base import Engine
from onefold.engine.sql import literal
from onefold.identity.matching import Model, tf_fields

#: Settings that only cluster the scored pairs, not learn or score them.
NOT_IN_MODEL = {"threshold"}


def model_fingerprint(settings: MatchingSettings) -> str:
    """What a model was trained under: every matching setting that changes learning or
    scoring (comparisons, blocking, sources, …; not the clustering threshold)."""
    spec = settings.model_dump(mode="json", exclude=NOT_IN_MODEL)
    return hashlib.sha256(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def load_model(engine: Engine, settings: MatchingSettings) -> Model | None:
    """The stored model, if it was trained under these settings (else None: train)."""
    rows = engine.fetchall(
        "SELECT model FROM match_model WHERE fingerprint = ?", [model_fingerprint(settings)]
    )
    if not rows:
        return None
    data = orjson.loads(rows[0][0])
    return Model(
        prior=data["prior"],
        m=data["m"],
        u=data["u"],
        iterations=data["iterations"],
        pairs=data["pairs"],
        global_prior=data["global_prior"],
        rule_priors=data["rule_priors"],
        tf_unseen=data["tf_unseen"],
    )


def save_model(engine: Engine, settings: MatchingSettings, model: Model, run_id: int) -> None:
    """Inside the run's commit: replace the stored model and its term frequencies, read from
    the `match_records` it was trained on (before the profiles are swapped in)."""
    data = {
        "prior": model.prior,
        "m": model.m,
        "u": model.u,
        "iterations": model.iterations,
        "pairs": model.pairs,
        "global_prior": model.global_prior,
        "rule_priors": model.rule_priors,
        "tf_unseen": model.tf_unseen,
    }
    engine.execute("DELETE FROM match_model")
    engine.execute(
        "INSERT INTO match_model VALUES (?, ?, ?, ?)",
        [model_fingerprint(settings), run_id, datetime.now(UTC), orjson.dumps(data).decode()],
    )
    engine.execute("DELETE FROM match_model_tf")
    for f in tf_fields(settings):
        engine.execute(
            f"INSERT INTO match_model_tf SELECT DISTINCT {literal(f)}, {f}_key, tf_{f} "
            f"FROM match_records WHERE {f}_key IS NOT NULL",
            step="matching: keep the model",
        )
