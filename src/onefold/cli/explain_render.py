"""Terminal rendering of `explain` results (rich trees). Presentation only."""

from __future__ import annotations

from rich.markup import escape
from rich.tree import Tree

from onefold.explain_model import (
    DroppedLink,
    IdentifierTie,
    MatchEvidence,
    PathExplanation,
    ProfileExplanation,
    UnusedValue,
)

#: Lines of each section shown (the dataclasses always hold everything).
MAX_SHOWN = 30


def _bits(w: float, unit: bool = False) -> str:
    """+10.4 / −5.3, with a real minus sign (and no −0.0)."""
    text = "0.0" if abs(w) < 0.05 else f"{w:+.1f}".replace("-", "\u2212")
    return f"{text} bits" if unit else text


def _add_capped(tree: Tree, lines: list[str], what: str) -> None:
    """The first MAX_SHOWN lines, then how many more there are."""
    for line in lines[:MAX_SHOWN]:
        tree.add(line)
    if len(lines) > MAX_SHOWN:
        tree.add(f"[dim]… and {len(lines) - MAX_SHOWN} more {what}[/]")


def _tie_line(t: IdentifierTie) -> str:
    if t.kind == "shared_value":
        what, extra = (
            "holds together",
            " [dim](a shared value: these records hold no other identifier)[/]",
        )
    else:
        what, extra = "joins", ""
    return (
        f"{t.id_type} [cyan]{escape(t.value)}[/] {what} {_plural(len(t.records), 'record')}"
        f" ({escape(', '.join(t.sources))}){extra}"
    )


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _score_line(ev: MatchEvidence) -> str:
    """`person_name exact (+10.4 bits), phone different (−5.3); prior −13.8`."""
    parts = []
    for i, c in enumerate(ev.comparisons):
        tf = (
            f", {_bits(c.tf_adjustment)} for how common the value is"
            if c.tf_adjustment is not None and abs(c.tf_adjustment) >= 0.05
            else ""
        )
        parts.append(f"{c.field} {escape(c.label)} ({_bits(c.weight, unit=i == 0)}{tf})")
    return ", ".join(parts) + f"; prior {_bits(ev.prior)}"


def _link_line(ev: MatchEvidence) -> str:
    who = f" [dim]{escape(ev.a.ref)} ⇄ {escape(ev.b.ref)}[/]"
    return (
        f"[magenta]probabilistic link {ev.probability:.3f}[/]: {_score_line(ev)}"
        f" (weight {_bits(ev.match_weight)}){who}"
    )


def _unused_line(u: UnusedValue) -> str:
    return (
        f"shared value not used: {u.id_type} [yellow]{escape(u.value)}[/] — {escape(u.reason)} "
        f"[dim]({_plural(u.records, 'record')} here)[/]"
    )


def _dropped_line(d: DroppedLink) -> str:
    return (
        f"link not used: {escape(d.record.ref)} holds {d.id_type} [yellow]{escape(d.value)}[/] "
        f"— {escape(d.reason)}"
    )


def render_profile(expl: ProfileExplanation) -> Tree:
    """`profile p_… (Ann Lee) — 9 records from 4 sources`, then ties, links, unused, history."""
    name = f" ({escape(expl.name)})" if expl.name else ""
    tree = Tree(
        f"[bold]profile {expl.profile_id}{name}[/] — {_plural(expl.records, 'record')} from "
        f"{_plural(len(expl.sources), 'source')}"
    )
    # flat, so the tree reads as sentences: what joins, what links, what was kept out
    _add_capped(tree, [_tie_line(t) for t in expl.ties], "joining values")
    _add_capped(tree, [_link_line(ev) for ev in expl.links], "probabilistic links")
    if expl.loose:
        label = "a single record" if expl.records == 1 else "joined by nothing"
        refs = ", ".join(r.ref for r in expl.loose[:MAX_SHOWN])
        more = f" … and {len(expl.loose) - MAX_SHOWN} more" if len(expl.loose) > MAX_SHOWN else ""
        tree.add(f"{label}: {escape(refs)}{more}")
    _add_capped(tree, [_unused_line(u) for u in expl.unused], "shared values not used")
    _add_capped(tree, [_dropped_line(d) for d in expl.dropped], "links dropped by limits")
    if expl.history:
        node = tree.add("[bold]history[/]")
        for h in expl.history:
            when = f" {h.happened_at:%Y-%m-%d %H:%M}" if h.happened_at else ""
            node.add(f"run {h.run_id}{when}: {h.describe(expl.profile_id)}")
    return tree


def _add_terms(node: Tree, ev: MatchEvidence) -> None:
    """One line per comparison, then the prior: together they sum to the match weight."""
    for c in ev.comparisons:
        tf = (
            f" [dim](incl. {_bits(c.tf_adjustment)} for how common the value is)[/]"
            if c.tf_adjustment is not None and abs(c.tf_adjustment) >= 0.05
            else ""
        )
        node.add(f"{c.field}: {escape(c.label)} {_bits(c.weight, unit=True)}{tf}")
    node.add(f"prior: {_bits(ev.prior, unit=True)}")


def render_path(expl: PathExplanation) -> Tree:
    """Hop by hop when the records share a profile; otherwise what they share and their score."""
    a, b = escape(expl.a.ref), escape(expl.b.ref)
    if expl.linked:
        tree = Tree(
            f"[bold]{a} → {b}[/]: [green]same profile[/] {expl.profile_a}, "
            f"{_plural(len(expl.hops), 'hop')}"
        )
        for i, hop in enumerate(expl.hops, start=1):
            start, end = escape(hop.start.ref), escape(hop.end.ref)
            via = hop.via
            if isinstance(via, MatchEvidence):
                node = tree.add(
                    f"{i}. {start} → {end} by [magenta]probabilistic link "
                    f"{via.probability:.3f}[/] (weight {_bits(via.match_weight, unit=True)}, "
                    f"threshold {via.threshold:g})"
                )
                _add_terms(node, via)
            else:
                shared = " (a shared value holding records with no other identifier)"
                tree.add(
                    f"{i}. {start} → {end} share {via.id_type} [cyan]{escape(via.value)}[/]"
                    + (shared if via.kind == "shared_value" else "")
                )
        for note in expl.notes:
            tree.add(f"[dim]{escape(note)}[/]")
        return tree
    tree = Tree(
        f"[bold]{a} and {b}[/] are [red]not linked[/]: profiles {expl.profile_a} and "
        f"{expl.profile_b}"
    )
    if expl.shared:
        node = tree.add(f"[bold]shared values that could not join them[/] ({len(expl.shared)})")
        for u in expl.shared:
            node.add(f"{u.id_type} [yellow]{escape(u.value)}[/] — {escape(u.reason)}")
    ev = expl.candidate
    if ev is not None:
        verdict = "above" if ev.above_threshold else "below"
        node = tree.add(
            f"[bold]probabilistic score[/] {ev.probability:.3f} (weight "
            f"{_bits(ev.match_weight, unit=True)}), {verdict} the threshold {ev.threshold:g}"
        )
        _add_terms(node, ev)
    for note in expl.notes:
        tree.add(escape(note))
    return tree


__all__ = ["render_path", "render_profile"]
