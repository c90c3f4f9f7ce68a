"""The hot parts of pages, rendered in Python: evidence rows, timeline, criteria, level rows.

A full site has 8,000 cell pages with up to 30 results each; rendering those rows through
template expressions costs seconds, so they are built here with f-strings instead. Every value
still goes through `markupsafe.escape` (run messages and links come from clouds and CI), but
each distinct string is escaped once and a run's columns once per run, since the 40 cells of a
combination share each run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from harness.declarations.model import Level
from harness.history.evidence import Evidence
from harness.levels.compute import Cell, CriterionResult

COLUMNS = 10  # of the evidence table
DASH = "&mdash;"  # an empty value; pages are kept ASCII, which Python joins and writes fastest
RUNS_SHOWN = 3  # per criterion; "and N more" beyond


@dataclass(frozen=True)
class LevelRow:
    """One row of a level table: what the first column links to, and the cell."""

    href: str
    name: str
    title: str
    second: str
    cell: Cell
    cell_href: str


class Fragments:
    """Renders rows with shared caches; one instance per publish."""

    def __init__(self, safe_url: Callable[[str | None], str | None]) -> None:
        self._safe_url = safe_url
        self._escaped: dict[str, str] = {}
        self._scenarios: dict[str, str] = {}
        self._runs: dict[str, tuple[str, str, str]] = {}

    def text(self, value: str) -> str:
        """`value` escaped for HTML text or a quoted attribute, remembered."""
        found = self._escaped.get(value)
        if found is None:
            found = self._escaped[value] = str(escape(value))
        return found

    def scenario(self, node_id: str) -> str:
        """A pytest node id, escaped, that may wrap after '/' and '::' rather than mid-word."""
        found = self._scenarios.get(node_id)
        if found is None:
            found = self.text(node_id).replace("/", "/<wbr>").replace("::", "::<wbr>")
            self._scenarios[node_id] = found
        return found

    def evidence(self, recent: Sequence[Evidence]) -> Markup:
        """The evidence table's body rows, newest first; a run's first row is its anchor."""
        parts = []
        anchored: set[str] = set()
        for e in recent:
            anchor, before, after = self._run(e)
            parts.append(f'<tr class="o-{self.text(e.outcome)}"')
            if e.run_id not in anchored:
                anchored.add(e.run_id)
                parts.append(anchor)
            microversion = self.text(e.microversion) if e.microversion else DASH
            parts.append(
                f">{before}<td>{self.text(e.outcome)}</td><td>{self.scenario(e.scenario)}</td>"
                f"<td>{e.duration_s:.1f} s</td><td>{microversion}</td>{after}</tr>\n"
            )
            if e.message:
                parts.append(
                    f'<tr class="msg"><td colspan="{COLUMNS}"><pre>{escape(e.message)}'
                    "</pre></td></tr>\n"
                )
            if e.proof:
                parts.append(
                    f'<tr class="msg proof"><td colspan="{COLUMNS}">proof: '
                    f"{self.text(e.proof)}</td></tr>\n"
                )
        return Markup("".join(parts))

    def _run(self, e: Evidence) -> tuple[str, str, str]:
        """A run's anchor attribute and its columns before and after the result's own."""
        found = self._runs.get(e.run_id)
        if found is None:
            run = self.text(e.run_id)
            job = self.link(e.job_url, "job") if e.job_url else DASH
            kind = e.kind if e.voting else f"{e.kind}, non-voting"
            found = self._runs[e.run_id] = (
                f' id="run-{run}"',
                f"<td>{run}</td><td>{self.text(e.started_at[:19].replace('T', ' '))}</td>",
                f"<td>{self.text(e.versions) if e.versions else DASH}</td>"
                f"<td>{self.text(e.lab)} / {self.text(e.target)}</td><td>{self.text(kind)}</td>"
                f"<td>{job}</td>",
            )
        return found

    def facts(self, cell: Cell, level: Level | None, max_score: int) -> Markup:
        """The cell's summary as <dt>/<dd> pairs: level, score, counts, versions, jobs."""
        t = self.text
        parts = []
        if level is not None:
            rating = f" (Nova: {t(level.nova_rating)})" if level.nova_rating else ""
            parts.append(f"<dt>level</dt><dd>{t(level.title)}{rating}</dd>")
        if cell.criteria:
            parts.append(f"<dt>score</dt><dd>{cell.score} of {max_score}</dd>")
        rate = DASH if cell.pass_rate is None else f"{cell.pass_rate:.0%}"
        ignored = (
            f"; {cell.ignored} ignored from runs that count for nothing" if cell.ignored else ""
        )
        parts.append(
            f"<dt>valid results</dt><dd>{cell.passed} passed, {cell.failed} failed "
            f"({rate} pass rate){ignored}</dd>"
        )
        for name, evidence, none in (
            ("last pass", cell.last_pass, "never"),
            ("last failure", cell.last_failure, "none"),
        ):
            when = (
                f"{t(evidence.started_at)} (<code>{t(evidence.run_id)}</code>)"
                if evidence
                else none
            )
            parts.append(f"<dt>{name}</dt><dd>{when}</dd>")
        if cell.labs:
            parts.append(f"<dt>labs</dt><dd>{t(', '.join(cell.labs))}</dd>")
        for fact, values in cell.versions.items():
            parts.append(f"<dt>{t(fact)}</dt><dd>{t(', '.join(values))}</dd>")
        if cell.job_urls:
            jobs = " &middot; ".join(map(self.link, cell.job_urls))
            parts.append(f"<dt>CI jobs</dt><dd>{jobs}</dd>")
        return Markup("\n".join(parts))

    def link(self, url: str, text: str | None = None) -> str:
        """A link when `url` is http(s); otherwise the URL shown as text, never clickable."""
        safe = self._safe_url(url)
        if safe is None:
            return f'<span class="untrusted">{self.text(url)}</span>'
        return f'<a href="{self.text(safe)}" rel="nofollow">{self.text(text or url)}</a>'

    def timeline(self, recent: Sequence[Evidence]) -> Markup:
        """A square per result, oldest first, each titled with its time and outcome."""
        return Markup(
            "".join(
                f'<span class="sq o-{self.text(e.outcome)}" title="{self.text(e.started_at[:16])} '
                f'{self.text(e.outcome)}"></span>'
                for e in reversed(recent)
            )
        )

    def level_rows(self, rows: Iterable[LevelRow], classes: Mapping[str, str]) -> Markup:
        """The body of a combination's table of features, or a feature's of combinations: a
        link, a second column, then the cell's level (linked to its page) and its counts."""
        t = self.text
        parts = []
        for row in rows:
            cell = row.cell
            marks = (" &#9888;" if cell.flaky else "") + (" &#9873;" if cell.flagged else "")
            score = cell.score if cell.criteria else DASH
            last = t(cell.last_pass.started_at[:10]) if cell.last_pass else DASH
            parts.append(
                f'<tr><td><a href="{t(row.href)}" title="{t(row.title)}">{t(row.name)}</a></td>'
                f"<td>{t(row.second)}</td>"
                f'<td class="{classes[cell.level]} lvl" data-level="{t(cell.level)}">'
                f'<a href="{t(row.cell_href)}">{t(cell.level)}{marks}</a></td>'
                f'<td class="num">{score}</td><td class="num">{cell.passed}</td>'
                f'<td class="num">{cell.failed}</td><td>{last}</td></tr>\n'
            )
        return Markup("".join(parts))

    def criteria(
        self,
        results: Sequence[CriterionResult],
        descriptions: Mapping[Any, str],
        anchors: Collection[str],
    ) -> Markup:
        """The criteria table's body: each criterion met or missed, why, and its runs."""
        parts = []
        for result in results:
            runs = " ".join(
                f'<a href="#run-{self.text(run)}"><code>{self.text(run)}</code></a>'
                if run in anchors
                else f"<code>{self.text(run)}</code>"
                for run in result.runs[:RUNS_SHOWN]
            )
            if len(result.runs) > RUNS_SHOWN:
                runs += f" and {len(result.runs) - RUNS_SHOWN} more"
            state = ("met", "&#10003; met") if result.met else ("missed", "&#10007; missed")
            parts.append(
                f'<tr class="{state[0]}"><td title="{self.text(descriptions.get(result.id, ""))}">'
                f'{self.text(result.name)}</td><td class="num">{result.weight}</td>'
                f"<td>{state[1]}</td><td>{escape(result.why)}</td><td>{runs}</td></tr>\n"
            )
        return Markup("".join(parts))
