"""`Workspace`: the Python API that the CLI (and later the server) are thin layers over.

A workspace is a folder: `onefold.yml`, `sources/*.yml` (one mapping per source) and one
DuckDB file holding every table. Stages run in order — load → clean → identity → profiles —
and each reads only what the one before it wrote.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import orjson

from onefold.clean.express import ExpressCleaner
from onefold.clean.stage import (
    CleanResult,
    landing_rejects_sql,
    largest_id,
    largest_rid,
    run_clean,
)
from onefold.collect.loader import recover_journal
from onefold.collect.messages import Accepted, Rejected, check_message
from onefold.collect.store import (
    Stored,
    collected_file,
    messages_table,
    rejects_table,
    store_messages,
    store_rejects,
)
from onefold.config.mappings import SourceMapping, load_mappings
from onefold.config.settings import CONFIG_FILE, DEFAULT_CONFIG_YAML, ProjectConfig, load_project
from onefold.engine import DuckDBEngine, Engine
from onefold.engine.base import ConstraintViolation
from onefold.engine.migrations import migrate
from onefold.engine.sql import identifier
from onefold.errors import ConfigError, NotFoundError, WorkspaceError, did_you_mean
from onefold.identity.clustering import cluster_components, relabel_components
from onefold.identity.express import EXPRESS_MAX_RECORDS, resolve_express
from onefold.identity.fast_path import (
    FRESH,
    GRAPH_RUN,
    ConflictCache,
    FastResult,
    resolve_fast,
)
from onefold.identity.graph import GraphResult, build_graph
from onefold.identity.incremental import (
    REGION,
    WRITE_CHANGES_FROM,
    Region,
    add_minted_history,
    close_region,
    open_region,
    replaced_hubs,
    select_region,
    write_back_identity,
)
from onefold.identity.incremental_matching import TEMP_TABLES as MATCH_TEMP_TABLES
from onefold.identity.incremental_matching import (
    copy_region_pairs,
    region_match_result,
    score_new_records,
    strong_links,
    write_back_matches,
)
from onefold.identity.match_model import load_model, save_model
from onefold.identity.matching import MatchResult, Model, run_matching
from onefold.identity.override_hold import OverrideHoldCache
from onefold.identity.overrides import (
    Override,
    cannot_link_components,
    is_record_ref,
    load_overrides,
    must_link_mapping,
)
from onefold.identity.stable_ids import IdAssignment, assign_profile_ids, commit_profile_ids
from onefold.ingest.landing import LoadResult, land_file, land_payloads
from onefold.lookup import ProfileView, identifier_candidates, search_profiles, show_profile
from onefold.profiles.build import (
    build_profiles,
    ensure_profile_docs,
    merge_profile_tables,
    swap_profile_tables,
)
from onefold.profiles.export import export_links, export_profiles
from onefold.progress import ProgressFn
from onefold.quality.inventory import SourceInventory, source_inventory
from onefold.quality.report import quality_report


@dataclass(frozen=True)
class MatchSummary:
    """What probabilistic matching did in one run."""

    records: int
    candidate_pairs: int
    pairs_above_threshold: int
    merges: int
    refused_conflict: int
    refused_incoherent: int
    em_iterations: int
    #: whether this run learned the model; otherwise it scored with the stored one
    trained: bool = False


@dataclass(frozen=True)
class ResolveResult:
    run_id: int
    clean: CleanResult
    graph: GraphResult
    ids: IdAssignment
    profiles: int
    seconds: dict[str, float] = field(default_factory=dict)
    matching: MatchSummary | None = None
    mode: Literal["full", "incremental"] = "full"
    #: why a run asked to be incremental ran in full (None when it ran incrementally)
    full_reason: str | None = None
    region: Region | None = None
    #: what the incremental fast path placed without a region run (None: it did not run)
    fast: FastResult | None = None
    #: whether the express path (`identity.express`) cleaned and placed the new records
    express: bool = False


class Workspace:
    """One onefold workspace on disk. Use as a context manager to close the database."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        if not (self.root / CONFIG_FILE).is_file():
            raise WorkspaceError(
                f"{self.root} is not an onefold workspace (no {CONFIG_FILE}); "
                f"run `onefold init {self.root}` first"
            )
        self.config: ProjectConfig = load_project(self.root)
        self.engine: Engine = DuckDBEngine(
            self.root / self.config.database,
            memory_limit=self.config.memory_limit,
            threads=self.config.threads,
        )
        migrate(self.engine)
        # what a killed server acknowledged but had not landed yet
        recover_journal(self.engine, self.root)
        ensure_profile_docs(self.engine)  # a workspace resolved before documents existed
        self._mappings: tuple[tuple[tuple[str, int, int], ...], dict[str, SourceMapping]] | None
        self._mappings = None
        self._resolved_seen = False
        self._conflicts = ConflictCache()
        self._held = OverrideHoldCache()
        self._express: ExpressCleaner | None = None
        #: (run id, largest rid, largest node id) after this workspace's last express run
        self._tops: tuple[int, int, int] | None = None
        self._seen = _Seen(0, 0, 0)

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def init(cls, root: Path | str, name: str | None = None) -> Workspace:
        """Create the folder layout and database (keeps an existing onefold.yml)."""
        path = Path(root)
        path.mkdir(parents=True, exist_ok=True)
        (path / "sources").mkdir(exist_ok=True)
        cfg = path / CONFIG_FILE
        if not cfg.exists():
            cfg.write_text(
                DEFAULT_CONFIG_YAML.format(name=name or path.resolve().name), encoding="utf-8"
            )
        return cls(path)

    def fork(self) -> Workspace:
        """The same workspace on another connection to its open database, for another thread.

        One process holds a DuckDB file; the server's collector, resolver and API readers
        each work through their own fork, with their own transactions.
        """
        other = Workspace.__new__(Workspace)
        other.root, other.config = self.root, self.config
        other.engine = self.engine.cursor()
        other._mappings = None
        other._resolved_seen = False
        other._conflicts = ConflictCache()
        other._held = OverrideHoldCache()
        other._express = None
        other._tops = None
        other._seen = _Seen(0, 0, 0)
        return other

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- configuration -----------------------------------------------------------------------
    @property
    def mappings(self) -> dict[str, SourceMapping]:
        """Every source mapping, validated together (all problems reported at once).

        Parsed again only when a mapping file changes: a real-time collector asks for them on
        every request.
        """
        folder = self.root / self.config.sources_dir
        files = sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml"))
        signature = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
        if self._mappings is None or self._mappings[0] != signature:
            parsed = load_mappings(folder, set(self.config.identity.id_types))
            self._mappings = (signature, parsed)
        return self._mappings[1]

    def _select(self, names: list[str] | None) -> dict[str, SourceMapping]:
        mappings = self.mappings
        if not names:
            return mappings
        for n in names:
            if n not in mappings:
                raise ConfigError(f"unknown source {n!r}." + did_you_mean(n, mappings))
        return {n: mappings[n] for n in names}

    # -- stages ------------------------------------------------------------------------------
    def load(
        self, sources: list[str] | None = None, *, progress: ProgressFn | None = None
    ) -> list[LoadResult]:
        """Land every file of the given sources (default: all). Idempotent per row content."""
        results = []
        for name, mapping in self._select(sources).items():
            if mapping.collected:
                if sources is None:
                    continue  # its messages arrive through `onefold serve`
                raise ConfigError(
                    f"sources/{name}.yml: a {mapping.format} source is collected by "
                    "`onefold serve`; there are no files to load"
                )
            files = mapping.files(self.root)
            if not files:
                raise ConfigError(
                    f"sources/{name}.yml: path: no file matches {mapping.path!r} under {self.root}"
                )
            for path in files:
                shown = (
                    str(path.relative_to(self.root))
                    if path.is_relative_to(self.root)
                    else str(path)
                )
                size = max(path.stat().st_size, 1)
                label = f"load {name}: {shown}"
                cb = (
                    (lambda done, lab=label, sz=size: progress(lab, done, sz)) if progress else None
                )
                result = land_file(self.engine, mapping, path, shown, cb)
                self.engine.execute(landing_rejects_sql(mapping, result.load_id))
                results.append(result)
        return results

    def resolve(
        self,
        *,
        progress: ProgressFn | None = None,
        incremental: bool = False,
        fast_path: bool = True,
        express: bool = True,
        retrain: bool = False,
    ) -> ResolveResult:
        """Clean → identity → profiles, from everything landed so far.

        With `incremental`, only what was landed since the last run is cleaned and resolved
        against the existing graph (see `identity.incremental`) and, with probabilistic
        matching, scored with the stored model against the records sharing a blocking key
        (see `identity.incremental_matching`); the profiles are the ones a full run would
        give. It falls back to a full run, and says why in `ResolveResult.full_reason`, when
        there is no earlier run, the configuration or a mapping changed, the match model
        needs training, a corrected record held a hub, or a block crossed `max_block_size`.
        `fast_path=False` resolves every new record through the region run (see
        `identity.fast_path`; the two give the same profiles, which the tests check), and
        `express=False` keeps a few collected messages off the express path
        (`identity.express`, the same profiles again) and on the batch stages.

        Matching trains its model (see `identity.match_model`) in a full run only when none
        is stored for the current matching settings or `retrain` asks for it (a full run
        then); otherwise every run scores with the stored model.
        """
        run = self._next_run()
        reason = self._why_full(run, retrain) if incremental else "requested"
        if reason is None:
            result = self._resolve_incremental(run, progress, fast_path, express and fast_path)
            if isinstance(result, ResolveResult):
                return result
            reason = result
        return self._resolve_full(run, progress, reason, retrain)

    def _next_run(self) -> _Run:
        """Everything a run reads about the runs before it, in one statement: each part
        alone costs a millisecond or two to plan, which a real-time run feels.

        A UNION of independent parts, not a row of scalar subqueries: DuckDB orders those as
        joins, and that search took it 10–30 ms. The runs and loads tables gain a row per
        real-time run, so they are read from the last run this workspace saw on: run ids and
        load ids only grow, and the zone maps skip the rest.
        """
        seen = self._seen
        profiles = ""
        if self._resolved_seen:  # before, the table may not exist
            profiles = "UNION ALL SELECT 'profiles', count(*), NULL, NULL, NULL FROM profiles"
        rows = self.engine.fetchall(
            f"""
            SELECT 'runs' AS k, max(run_id) AS a, max(max_load_id) AS b,
                   max(run_id) FILTER (WHERE {GRAPH_RUN}) AS c,
                   arg_max(fingerprint, run_id) AS s
            FROM runs WHERE run_id >= {seen.run_id}
            UNION ALL SELECT 'max_load', max(load_id), NULL, NULL, NULL FROM loads
                      WHERE load_id >= {seen.max_load}
            UNION ALL SELECT 'overrides', count(*), max(override_id), NULL, NULL FROM overrides
            UNION ALL SELECT 'rejects', count(*), NULL, NULL, NULL FROM rejects
            {profiles}
            UNION ALL SELECT 'load', rows_new, NULL, NULL, source || chr(0) || file FROM loads
                      WHERE load_id > (SELECT coalesce(max(max_load_id), 0) FROM runs
                                       WHERE run_id >= {seen.run_id})
            """,
            step="run state",
        )
        got = {str(r[0]): r[1:] for r in rows if r[0] != "load"}
        last_run, after, graph_run, fingerprint = got["runs"]
        max_load = got["max_load"][0]
        self._seen = _Seen(
            int(last_run or seen.run_id),
            int(max_load or seen.max_load),
            max(int(graph_run or 0), seen.graph_run),
        )
        return _Run(
            self._seen.run_id + 1,
            datetime.now(UTC),
            self._seen.max_load,
            self._fingerprint(),
            fingerprint,
            int(after or 0),
            self._seen.graph_run,
            (int(got["overrides"][0]), int(got["overrides"][1] or 0)),
            int(got["rejects"][0]),
            int(got["profiles"][0]) if "profiles" in got else None,
            [_load_entry(str(r[4]), int(r[1])) for r in rows if r[0] == "load"],
        )

    def _why_full(self, run: _Run, retrain: bool = False) -> str | None:
        if run.last_fingerprint is None or not (
            self._resolved_seen or self.engine.table_exists("profiles")
        ):
            return "no earlier run"
        self._resolved_seen = True  # never gone again (see `require_resolved`): ~2 ms a run
        if run.last_fingerprint != run.fingerprint:
            return "the configuration or a mapping changed since the last run"
        if self.config.matching.enabled:
            if retrain:
                return "retraining the match model was asked for"
            if load_model(self.engine, self.config.matching) is None:
                return "the match model needs training (none is stored for these settings)"
        return None

    def _fingerprint(self) -> str:
        """What a run's result depends on besides the data: onefold.yml and every mapping."""
        digest = hashlib.sha256((self.root / CONFIG_FILE).read_bytes())
        for path in sorted((self.root / self.config.sources_dir).glob("*.yml")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()[:32]

    def _identity(
        self,
        run_id: int,
        progress: ProgressFn | None,
        preset_hubs: str | None = None,
        before_ids: Callable[[], None] | None = None,
        match: Callable[[], MatchResult] | None = None,
    ) -> tuple[GraphResult, MatchSummary | None, IdAssignment, int, dict[str, float]]:
        """Graph → overrides → matching → stable ids → next profile tables, on the current
        database (the workspace's, or an incremental run's region).

        `match` gives the scored `match_pairs` (a full run scores every candidate pair; an
        incremental one copied the region's stored and new pairs); clustering is the same."""
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        overrides = load_overrides(self.engine)
        cannot = [(o.a, o.b) for o in overrides if o.kind == "cannot_link"]
        must = [(o.a, o.b) for o in overrides if o.kind == "must_link"]
        graph = build_graph(
            self.engine,
            self.config.identity,
            progress,
            cannot_links=cannot,
            preset_hubs=preset_hubs,
        )
        if must:
            relabel_components(self.engine, must_link_mapping(self.engine, must))
        seconds["identity"] = time.perf_counter() - t0
        matched: MatchSummary | None = None
        if match is not None:
            t0 = time.perf_counter()
            scored = match()
            clusters = cluster_components(
                self.engine,
                self.config.matching.threshold,
                self.config.identity.unique_types,
                cannot_link=cannot_link_components(self.engine, cannot),
            )
            matched = MatchSummary(
                scored.records,
                scored.pairs,
                scored.above_threshold,
                clusters.merges,
                clusters.refused_conflict,
                clusters.refused_incoherent,
                scored.model.iterations if scored.trained else 0,
                scored.trained,
            )
            seconds["matching"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if before_ids:
            before_ids()
        ids = assign_profile_ids(self.engine, run_id)
        seconds["identity"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        n = build_profiles(self.engine, self.config.source_priority)
        seconds["profiles"] = time.perf_counter() - t0
        return graph, matched, ids, n, seconds

    def _resolve_full(
        self, run: _Run, progress: ProgressFn | None, reason: str, retrain: bool = False
    ) -> ResolveResult:
        t0 = time.perf_counter()
        clean = run_clean(
            self.engine, self.config, self.mappings, progress, until_load=run.max_load
        )
        seconds = {"clean": time.perf_counter() - t0}
        settings = self.config.matching
        scored: list[MatchResult] = []

        def match() -> MatchResult:
            stored = None if retrain else load_model(self.engine, settings)
            scored.append(run_matching(self.engine, settings, progress, stored))
            return scored[0]

        graph, matched, ids, n, more = self._identity(
            run.run_id, progress, match=match if settings.enabled else None
        )
        seconds.update(more)
        result = ResolveResult(run.run_id, clean, graph, ids, n, seconds, matched, "full", reason)
        t0 = time.perf_counter()
        with self.engine.transaction():  # readers see the old run or the new one, never half
            if scored and scored[0].trained:
                save_model(self.engine, settings, scored[0].model, run.run_id)
            commit_profile_ids(self.engine)
            swap_profile_tables(self.engine)
            self._record_run(result, "resolve", run)
        seconds["profiles"] += time.perf_counter() - t0
        for t in ("_record_comp", "_members", "_comp_profile", "_comp_edges", "_replaced"):
            self.engine.execute(f"DROP TABLE IF EXISTS {t}")
        return result

    def _resolve_incremental(
        self, run: _Run, progress: ProgressFn | None, fast_path: bool, express: bool
    ) -> ResolveResult | str:
        """The reason when the new data needs a full run instead (a corrected record held a
        hub; a block crossed `max_block_size`)."""
        after = run.after
        settings = self.config.matching
        model: Model | None = load_model(self.engine, settings) if settings.enabled else None
        if express and model is None:  # the express path places records by identifiers alone
            done = self._resolve_express(run)
            if done is not None:
                return done
        t0 = time.perf_counter()
        scoring = 0.0
        try:
            with self.engine.transaction():  # the new records are cleaned in one piece
                clean = run_clean(
                    self.engine, self.config, self.mappings, progress, after, run.max_load
                )
                # roll the cleaning back when a full run is needed; it rebuilds everything
                if replaced_hubs(self.engine):
                    raise _NeedsFullRun("a corrected record held a shared (hub) value")
                if model is not None:
                    t1 = time.perf_counter()
                    why = score_new_records(self.engine, settings, model, clean.first_new_rid)
                    scoring = time.perf_counter() - t1
                    if why is not None:
                        raise _NeedsFullRun(why)
        except _NeedsFullRun as e:
            return str(e)
        seconds = {"clean": time.perf_counter() - t0 - scoring}
        base = clean.first_new_rid
        if clean.records == 0 and not self.engine.fetchone("SELECT count(*) FROM _replaced"):
            return self._nothing_new(run, clean, seconds)
        t0 = time.perf_counter()
        held = self._held.get(self.engine, run.graph_run, *run.overrides)
        fast: FastResult | None = None
        if (
            fast_path
            and model is None  # the fast path places records by their identifiers alone
            and not self.engine.fetchone("SELECT count(*) FROM _replaced")
        ):
            with self.engine.transaction():
                fast = resolve_fast(
                    self.engine,
                    self.config.identity,
                    self.config.source_priority,
                    base,
                    run.run_id,
                    self._conflicts,
                    run.graph_run,
                    held,
                )
                if not fast.left_to_region:
                    return self._fast_only(run, clean, fast, seconds)
        else:
            self.engine.execute(
                f"CREATE OR REPLACE TEMP TABLE {FRESH} AS SELECT rid FROM records "
                f"WHERE rid > {int(base)}"
            )
        if model is not None:
            strong_links(self.engine, settings.threshold)
        region = select_region(
            self.engine,
            base,
            match_links=model is not None,
            conflict_pairs=self._conflicts.pairs(self.engine, run.graph_run),
            held=held,
        )
        main = str(self.engine.fetchone("SELECT current_database()"))
        main_q = identifier(main)
        open_region(self.engine, main_q)
        match: Callable[[], MatchResult] | None = None
        if model is not None:
            copy_region_pairs(self.engine, main_q, REGION)
            match = partial(region_match_result, self.engine, model, settings.threshold)
        try:
            graph, matched, ids, _, more = self._identity(
                run.run_id,
                progress,
                "known_hubs",
                lambda: add_minted_history(self.engine, main_q),
                match,
            )
            # the region's selection and copy count as identity work; writing back as profiles
            more["identity"] = time.perf_counter() - t0 - more["profiles"]
            if "matching" in more:  # clustering the region, and scoring the new records
                more["identity"] -= more["matching"]
                more["matching"] += scoring
            seconds.update(more)
            t1 = time.perf_counter()
            self.engine.execute(f"USE {main_q}")
            with self.engine.transaction():
                only = region.records >= WRITE_CHANGES_FROM
                write_back_identity(self.engine, main_q, only_changes=only)
                if model is not None:
                    write_back_matches(self.engine, main_q, REGION)
                merge_profile_tables(self.engine, REGION, main_q, only_changes=only)
                n = int(self.engine.fetchone("SELECT count(*) FROM profiles"))
                seconds["profiles"] += time.perf_counter() - t1  # the run's stats hold it all
                result = ResolveResult(
                    run.run_id,
                    clean,
                    graph,
                    ids,
                    n,
                    seconds,
                    matched,
                    "incremental",
                    None,
                    region,
                    fast,
                )
                self._record_run(result, "incremental", run)
            self._conflicts.after_region(self.engine, run.graph_run, run.run_id, REGION)
            self._held.after_region(self.engine, run.graph_run, run.run_id, REGION)
        finally:
            close_region(self.engine, main_q)
        for t in ("_record_comp", "_members", "_comp_profile", "_replaced", "_comp_edges"):
            self.engine.execute(f"DROP TABLE IF EXISTS {t}")
        return result

    def _resolve_express(self, run: _Run) -> ResolveResult | None:
        """A few collected messages cleaned and placed in one short transaction
        (`identity.express`); None when they need the batch stages."""
        mappings = self.mappings
        if (
            not run.new_loads
            or sum(n for _, _, n in run.new_loads) > EXPRESS_MAX_RECORDS
            or any(
                s not in mappings or not mappings[s].collected or f != collected_file(s)
                for s, f, _ in run.new_loads
            )
        ):
            return None
        if self._express is None or self._express.mappings is not mappings:
            self._express = ExpressCleaner(self.config, mappings)
        with self.engine.transaction():
            if self._tops is not None and self._tops[0] == run.run_id - 1:
                _, base, top_node = self._tops  # no run since ours: nothing else was added
            else:
                base = largest_rid(self.engine)
                top_node = largest_id(self.engine, "identity_nodes", "node_id")
            done = resolve_express(
                self.engine,
                self._express,
                self.config.identity,
                self.config.source_priority,
                sorted({s for s, _, _ in run.new_loads}),
                run.after,
                run.max_load,
                base,
                run.run_id,
                self._conflicts,
                graph_run=run.graph_run,
                top_node=top_node,
                held=self._held.get(self.engine, run.graph_run, *run.overrides),
            )
            if done is None:
                return None  # nothing was written
            fast = done.fast
            n = self._profiles_after(run, fast)
            rejects = run.rejects + done.rejects
            clean = CleanResult(done.records, done.values, 0, rejects, done.suspicious, base)
            seconds = {"clean": done.cleaning, "identity": fast.deciding}
            seconds["profiles"] = fast.writing
            result = self._placed_result(run, clean, fast, n, seconds, express=True)
            self._record_run(result, "incremental", run)
        self._tops = (run.run_id, base + done.records, top_node + fast.new_nodes)
        return result

    def _placed_result(
        self,
        run: _Run,
        clean: CleanResult,
        fast: FastResult,
        n: int,
        seconds: dict[str, float],
        *,
        express: bool = False,
    ) -> ResolveResult:
        """The result of an incremental run whose new records all took the fast path."""
        return ResolveResult(
            run.run_id,
            clean,
            GraphResult(fast.new_nodes, 0, 0, 0, fast.joined + fast.created),
            IdAssignment(n, fast.created, fast.merged, 0),
            n,
            seconds,
            None,
            "incremental",
            None,
            Region(fast.joined, fast.records, fast.records),
            fast,
            express,
        )

    def _profiles_after(self, run: _Run, fast: FastResult) -> int:
        """Profiles after a run that only placed records: those before it, plus the ones it
        started, less the ones it merged away (counted afresh when not read before it)."""
        if run.profiles is None:
            return int(self.engine.fetchone("SELECT count(*) FROM profiles"))
        return run.profiles + fast.created - fast.merged

    def _fast_only(
        self, run: _Run, clean: CleanResult, fast: FastResult, seconds: dict[str, float]
    ) -> ResolveResult:
        """Inside the fast path's transaction: every new record was placed, no region ran."""
        seconds["identity"] = fast.deciding
        seconds["profiles"] = fast.writing
        result = self._placed_result(run, clean, fast, self._profiles_after(run, fast), seconds)
        self._record_run(result, "incremental", run)
        for t in ("_replaced", FRESH):
            self.engine.execute(f"DROP TABLE IF EXISTS {t}")
        return result

    def _nothing_new(
        self, run: _Run, clean: CleanResult, seconds: dict[str, float]
    ) -> ResolveResult:
        """An incremental run that found nothing landed since: the profiles stand as they are."""
        n = int(self.engine.fetchone("SELECT count(*) FROM profiles"))
        result = ResolveResult(
            run.run_id,
            clean,
            GraphResult(0, 0, 0, 0, 0),
            IdAssignment(n, 0, 0, 0),
            n,
            seconds,
            None,
            "incremental",
            None,
            Region(0, 0, 0),
        )
        with self.engine.transaction():
            self._record_run(result, "incremental", run)
        for t in ("_replaced", *MATCH_TEMP_TABLES):
            self.engine.execute(f"DROP TABLE IF EXISTS {t}")
        return result

    def _record_run(self, result: ResolveResult, kind: str, run: _Run) -> None:
        self.engine.execute(
            "INSERT INTO runs (run_id, kind, started_at, finished_at, stats, max_load_id, "
            "fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                result.run_id,
                kind,
                run.started,
                datetime.now(UTC),
                orjson.dumps(_stats(result)).decode(),
                run.max_load,
                run.fingerprint,
            ],
        )

    def ingest(
        self,
        source: str,
        payloads: Sequence[bytes | dict[str, Any]],
        *,
        resolve: bool = True,
        fast_path: bool = True,
        express: bool = True,
    ) -> tuple[LoadResult, ResolveResult | None]:
        """Land JSON documents for `source` (an event, a small batch) and, by default,
        resolve them incrementally: what a real-time collector calls per request."""
        mapping = self._select([source])[source]
        raw = [p if isinstance(p, bytes) else orjson.dumps(p) for p in payloads]
        if mapping.collected:
            loaded = self._collect(source, raw)
        else:
            loaded = land_payloads(self.engine, mapping, raw, f"(api) {source}")
            self.engine.execute(landing_rejects_sql(mapping, loaded.load_id))
        if not resolve:
            return loaded, None
        return loaded, self.resolve(incremental=True, fast_path=fast_path, express=express)

    def _collect(self, source: str, raw: list[bytes]) -> LoadResult:
        """Messages for a collected (HTTP) source, checked and stored as `onefold serve`
        stores them: the collector's envelope beside each, a message id stored once."""
        received = datetime.now(UTC)
        accepted: list[Accepted] = []
        rejected: list[Rejected] = []
        for i, payload in enumerate(raw):
            try:
                msg = orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                text = payload[:2000].decode("utf-8", errors="replace")
                rejected.append(Rejected(i, None, "(message)", f"not valid JSON: {exc}", text))
                continue
            checked = check_message(msg, i, received, raw=payload)
            (accepted if isinstance(checked, Accepted) else rejected).append(checked)  # type: ignore[arg-type]
        messages = messages_table(source, accepted)

        def store(exact: bool) -> Stored:
            with self.engine.transaction():
                stored = store_messages(self.engine, source, messages, exact=exact)
                store_rejects(self.engine, rejects_table([(source, "ingest", r) for r in rejected]))
            return stored

        try:
            stored = store(exact=False)
        except ConstraintViolation:  # a message id sent before: claim them one by one
            stored = store(exact=True)
        return LoadResult(
            source,
            collected_file(source),
            stored.load_id or 0,
            len(raw),
            len(stored.ids),
            len(rejected),
        )

    # -- overrides ---------------------------------------------------------------------------
    def add_override(
        self, kind: Literal["must_link", "cannot_link"], a: str, b: str, note: str | None = None
    ) -> int:
        """Record a manual link or separation; it applies from the next `resolve` on.

        `a`/`b` are records (`source/record_key`) or identifiers (`type:value`, normalised
        here the way the pipeline normalises that type).
        """
        if kind not in ("must_link", "cannot_link"):
            raise ConfigError(f"override kind {kind!r}: expected must_link or cannot_link")
        refs = [self._normalise_ref(a), self._normalise_ref(b)]
        if refs[0] == refs[1]:
            raise ConfigError(f"an override needs two different references, got {a!r} twice")
        oid = int(self.engine.fetchone("SELECT nextval('override_id_seq')"))
        self.engine.execute(
            "INSERT INTO overrides VALUES (?, ?, ?, ?, ?, ?)",
            [oid, kind, refs[0], refs[1], note, datetime.now(UTC)],
        )
        return oid

    def overrides(self) -> list[Override]:
        return load_overrides(self.engine)

    def remove_override(self, override_id: int) -> None:
        if not self.engine.fetchone(
            "SELECT count(*) FROM overrides WHERE override_id = ?", [override_id]
        ):
            raise NotFoundError(f"no override {override_id}")
        self.engine.execute("DELETE FROM overrides WHERE override_id = ?", [override_id])

    def unmerge(self, profile_id: str) -> int:
        """Undo the latest merge into `profile_id` with a cannot-link between its two sides.

        Returns the override id; the split happens at the next `resolve` (the CLI runs it).
        """
        row = self.engine.fetchall(
            "SELECT evidence, profile_id FROM profile_history WHERE event = 'merged' "
            "AND other_profile_id = ? AND evidence LIKE '%/%' || chr(10) || '%/%' "
            "ORDER BY run_id DESC LIMIT 1",
            [profile_id],
        )
        if not row:
            raise NotFoundError(
                f"profile {profile_id!r} has no recorded merge to undo; to separate records "
                "that were joined in one go, use `onefold unlink SOURCE/KEY SOURCE/KEY`"
            )
        absorbed, survivor = str(row[0][0]).split("\n")
        return self.add_override(
            "cannot_link", absorbed, survivor, f"unmerge {row[0][1]} from {profile_id}"
        )

    def _normalise_ref(self, ref: str) -> str:
        ref = ref.strip()
        if is_record_ref(ref):
            source, key = ref.split("/", 1)
            mappings = self.mappings
            if source not in mappings:
                raise ConfigError(
                    f"unknown source {source!r} in {ref!r}." + did_you_mean(source, mappings)
                )
            if not self.engine.fetchone(
                "SELECT count(*) FROM landed_records WHERE source = ? AND record_key = ?",
                [source, key],
            ):
                raise NotFoundError(f"no record {key!r} in source {source!r}")
            return f"{source}/{key}"
        id_types: dict[str, str] = dict(self.config.identity.id_types)
        id_type = ref.split(":", 1)[0]
        if ":" not in ref or id_type not in id_types:
            raise ConfigError(
                f"{ref!r}: expected SOURCE/RECORD_KEY or TYPE:VALUE with a known identifier "
                "type." + did_you_mean(id_type, id_types)
            )
        cands = identifier_candidates(ref, id_types)
        if not cands:
            raise ConfigError(f"{ref!r}: not a valid {id_type}")
        return f"{cands[0][0]}:{cands[0][1]}"

    # -- reading -----------------------------------------------------------------------------
    def sources(self) -> list[SourceInventory]:
        """The data inventory: per source its size, field quality, rejects and freshness."""
        return source_inventory(self.engine, self.mappings)

    def rejects(self, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        where, params = ("WHERE source = ?", [source]) if source else ("", [])
        return self.engine.fetch_dicts(
            f"SELECT stage, source, file, row_number, record_key, field, raw_value, status, "
            f"reason FROM rejects {where} ORDER BY source, file, row_number, field "
            f"LIMIT {int(limit)}",
            params,
        )

    def quality(self) -> dict[str, Any]:
        return quality_report(self.engine)

    def search(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        """Profiles found by any identifier (normalised like the pipeline does) or by name."""
        self.require_resolved()
        return search_profiles(self.engine, query, dict(self.config.identity.id_types), limit)

    def profile(self, profile_id: str, timeline_limit: int = 200) -> ProfileView:
        self.require_resolved()
        return show_profile(self.engine, profile_id, timeline_limit)

    def export_profiles(self, path: Path, fmt: Literal["csv", "parquet"] = "csv") -> int:
        self.require_resolved()
        return export_profiles(self.engine, path, fmt)

    def export_links(self, path: Path) -> int:
        self.require_resolved()
        return export_links(self.engine, path)

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Run read-only SQL against the workspace tables (for notebooks and reports)."""
        return self.engine.fetch_dicts(sql, params)

    def require_resolved(self) -> None:
        # remembered once true: a run replaces the profile tables inside one transaction, so
        # they never go away again (and asking the catalog costs a Profile API call ~2 ms)
        if not self._resolved_seen and not self.engine.table_exists("profiles"):
            raise NotFoundError("no profiles yet: run `onefold resolve` first")
        self._resolved_seen = True


@dataclass(frozen=True)
class _Seen:
    """The newest run (and its graph run) and load a workspace has seen: where its next
    look at the runs and loads tables starts (see `Workspace._next_run`)."""

    run_id: int
    max_load: int
    graph_run: int


def _load_entry(source_and_file: str, rows_new: int) -> tuple[str, str, int]:
    source, file = source_and_file.split("\0", 1)
    return source, file, rows_new


@dataclass(frozen=True)
class _Run:
    """What a run knows before it starts: its id, start, landing watermark, config digest,
    and what the runs before it left (see `Workspace._next_run`)."""

    run_id: int
    started: datetime
    max_load: int
    fingerprint: str
    #: the last resolve's config digest (None: nothing was resolved yet)
    last_fingerprint: str | None
    #: the landing watermark of the last resolve: loads after it are new
    after: int
    #: `fast_path.LAST_GRAPH_RUN`
    graph_run: int
    #: the overrides' count and largest id: what `OverrideHoldCache` keys on
    overrides: tuple[int, int]
    rejects: int
    #: profiles now (None until this workspace has seen a resolved database)
    profiles: int | None
    #: (source, file, rows_new) of every load after `after`
    new_loads: list[tuple[str, str, int]]


class _NeedsFullRun(Exception):
    """Raised inside the incremental cleaning transaction to roll it back."""


def _stats(r: ResolveResult) -> dict[str, Any]:
    return {
        "records": r.clean.records,
        "rejects": r.clean.rejects,
        "nodes": r.graph.nodes,
        "hubs": r.graph.hubs,
        "limit_conflicts": r.graph.conflicts,
        "iterations": r.graph.iterations,
        "profiles": r.profiles,
        "created": r.ids.created,
        "merged": r.ids.merged,
        "split": r.ids.split,
        "seconds": r.seconds,
        "mode": r.mode,
        "region_profiles": r.region.profiles if r.region else None,
        "fast_records": r.fast.records if r.fast else 0,
        "model_trained": r.matching.trained if r.matching else None,
    }
