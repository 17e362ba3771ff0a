"""PNG plots of probe answers over episodes, meant to be understood at a glance.

matplotlib is imported only when a plot is drawn, and only its object API is used (``Figure`` +
Agg canvas): no pyplot global state, no backend switching inside a host process.

Every figure names its run (study, condition, scenario, seed) above its own title, and a
category keeps one colour everywhere: :func:`label_color` is a pure function of the label, so
"economy" is the same colour in every run's figure and in the study's comparison figures.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .payload import numeric_episode, slugify

DPI = 150
MAX_CHOICE_SERIES = 8
TOP_TOKENS_PLOTTED = 20
OTHER_SERIES = "(other answers)"
# Fixed colours for the answers every yes/no probe shares; every other label hashes into PALETTE
# (no greys, no colour equal to a fixed one), the same label always to the same colour.
FIXED_COLORS = {"yes": "#2a9d4b", "no": "#d1495b", "other": "#8d8d8d",
                OTHER_SERIES.casefold(): "#8d8d8d"}
PALETTE = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#332288", "#44aa99", "#882255", "#117733", "#e6ab02", "#d62728")  # saturated, apart
# Any constant works; this one gives the labels of the shipped examples distinct colours (and
# their two scenarios the blue and red they had before colours were fixed per label).
_HASH_SALT = b"c8671"
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D")
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)


def label_color(label: object) -> str:
    """The colour of a category label in every figure (case and outer spaces ignored).

    A stable hash (not Python's salted ``hash``), so it is the same in every process and run.
    """
    key = str(label).strip().casefold()
    if key in FIXED_COLORS:
        return FIXED_COLORS[key]
    digest = hashlib.blake2s(key.encode("utf-8"), digest_size=4, person=_HASH_SALT).digest()
    return PALETTE[int.from_bytes(digest, "big") % len(PALETTE)]


def label_styles(labels: Sequence[object], *, distinct: bool = False
                 ) -> dict[str, tuple[str, str, str]]:
    """``{label: (colour, linestyle, marker)}`` for the labels of one figure.

    The colour is :func:`label_color`; when two labels share it (a hash collision), the later
    one in sorted order gets a dashed line and another marker, so the lines stay apart while
    each label keeps its colour in every figure. ``distinct``: the later one takes the first
    palette colour no label uses instead, while there is one (for a fixed set of labels, such
    as a study's conditions, whose figures all resolve over that same set).
    """
    seen: dict[str, int] = {}
    out: dict[str, tuple[str, str, str]] = {}
    for label in sorted({str(x) for x in labels}, key=lambda x: (x.casefold(), x)):
        color = label_color(label)
        if distinct and color in seen:
            color = next((p for p in PALETTE if p not in seen), color)
        k = seen.get(color, 0)
        seen[color] = k + 1
        out[label] = (color, LINESTYLES[k % len(LINESTYLES)], MARKERS[k % len(MARKERS)])
    return out


def wrap(text: str, width_in: float, fontsize: float = 11.0) -> str:
    """``text`` wrapped to the width of a figure (inches), so no title runs off the edge.

    A line of ``a · b · c`` parts breaks between parts (never "seed" / "11" on two lines).
    """
    chars = max(20, int(width_in * 72 / (fontsize * 0.66)))
    out: list[str] = []
    for line in str(text).splitlines() or [""]:
        if len(line) <= chars or " · " not in line:
            out.append(_fill(line, chars))
            continue
        target = min(chars, -(-len(line) // -(-len(line) // chars)) + 8)   # balanced lines
        current = ""
        for part in line.split(" · "):
            joined = f"{current} · {part}" if current else part
            if current and len(joined) > target:
                out.append(current + " ·")
                current = part
            else:
                current = joined
        out.append(_fill(current, chars))
    return "\n".join(out)


_JOINTS = re.compile(r"[^_\-./]+[_\-./]*|[_\-./]+")


def _fill(line: str, chars: int) -> str:
    """Fill one line; a word longer than a line breaks after ``_ - . /`` (identifiers such as
    ``a_very_long_condition``), and only then inside a piece."""
    pieces: list[tuple[str, bool]] = []   # (piece, a space before it)
    for i, word in enumerate(line.split(" ")):
        parts = _JOINTS.findall(word) if len(word) > chars else [word]
        pieces += [(part, i > 0 and j == 0) for j, part in enumerate(parts or [""])]
    out, current = [], ""
    for piece, space in pieces:
        add = (" " if space and current else "") + piece
        if current and len(current) + len(add) > chars:
            out.append(current.rstrip())
            current = piece
        else:
            current += add
        while len(current) > chars:
            out.append(current[:chars])
            current = current[chars:]
    out.append(current)
    return "\n".join(out)


def short(text: object, limit: int = 40) -> str:
    """A label cut to ``limit`` characters with an ellipsis (tick labels, legends)."""
    s = str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def run_identity(plot_dir: Path) -> dict[str, Any]:
    """Study, hypothesis, condition, scenario and seed of the run whose plots go to ``plot_dir``.

    Read from the job file the orchestrator wrote for the run (``generated/jobs/<run_id>.json``),
    found from the documented evaluator layout ``generated/eval/<h>/<c>/<scenario>/seed_<seed>/
    <eval_id>/…`` (reuse: ``…/<h>/<c>/reuse_<i>``; experiments: ``eval/<run_id>``). Outside
    that layout (an evaluator run by hand) it returns ``{}``.
    """
    plot_dir = Path(plot_dir).absolute()
    for anc in plot_dir.parents:
        if anc.name != "eval":
            continue
        parts = plot_dir.relative_to(anc).parts
        ident: dict[str, Any] = {}
        if len(parts) >= 4 and parts[3].startswith("seed_"):
            h, c, scen, seed = parts[0], parts[1], parts[2], parts[3][len("seed_"):]
            ident = {"hypothesis": h, "condition": c, "scenario": scen,
                     "seed": int(seed) if seed.lstrip("-").isdigit() else seed}
            run_id = f"{h}__{c}__{scen}__seed{seed}"
        elif len(parts) >= 3 and parts[2].startswith("reuse_"):
            ident = {"hypothesis": parts[0], "condition": parts[1]}
            run_id = f"{parts[0]}__{parts[1]}__{parts[2]}"
        elif parts:
            run_id = parts[0]
        else:
            continue
        ident["run_id"] = run_id
        try:
            job = json.loads((anc.parent / "jobs" / f"{run_id}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            job = None
        if isinstance(job, dict):
            for key in ("study", "hypothesis", "condition", "scenario", "seed", "axes"):
                if job.get(key) is not None:
                    ident[key] = job[key]
        if ident.get("study") or ident.get("condition"):
            return ident
    return {}


def identity_title(ident: Mapping[str, Any]) -> str | None:
    """'study S · condition C (h1) · scenario X · seed 11' — None when nothing is known."""
    parts = []
    if ident.get("study"):
        parts.append(f"study {ident['study']}")
    if ident.get("condition"):
        hyp = f" ({ident['hypothesis']})" if ident.get("hypothesis") else ""
        parts.append(f"condition {ident['condition']}{hyp}")
    axes = ident.get("axes")
    if isinstance(axes, Mapping) and axes:
        parts += [f"{k} {v}" for k, v in axes.items() if k != "seed"]
    if ident.get("scenario"):
        parts.append(f"scenario {ident['scenario']}")
    seed = ident.get("seed", axes.get("seed") if isinstance(axes, Mapping) else None)
    if seed is not None:
        parts.append(f"seed {seed}")
    if not parts and ident.get("run_id"):
        parts.append(f"run {ident['run_id']}")
    return " · ".join(parts) or None


def _titles(fig, ax, title: str, run_title: str | None, width_in: float = 8.0) -> None:
    """The run above (figure title), what the plot shows below it (axes title); both wrapped."""
    if run_title:
        fig.suptitle(wrap(run_title, width_in, 10), fontsize=10, color="#333333")
    ax.set_title(wrap(title, width_in, 11), fontsize=11)


def t_critical_95(n: int) -> float:
    """Two-sided 95 % Student-t critical value for a mean of ``n`` values (1.96 beyond 31)."""
    return _T95[n - 2] if 2 <= n <= 31 else 1.96


def new_figure(width: float = 8.0, height: float = 4.6) -> tuple[Any, Any]:
    """A standalone figure with one axes and a light grid."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def figure_title(fig) -> str:
    """The figure's titles as one line (figure title, then each axes title)."""
    parts = [fig.get_suptitle()]
    parts += [ax.get_title() for ax in fig.axes if ax.get_title()]
    return " — ".join(" ".join(p.split()) for p in parts if p.strip())


def save_figure(fig, path: Path) -> str:
    """Save as PNG; the titles also go into the file's ``Title`` text chunk (searchable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    title = figure_title(fig)
    fig.savefig(path, dpi=DPI, metadata={"Title": title} if title else None)
    return str(path)


def episode_axis(ax, episodes: Sequence[object]) -> list[float]:
    """x positions for episodes: the numbers themselves, or 0..n-1 with text ticks if not numeric."""
    from matplotlib.ticker import MaxNLocator

    numbers = [numeric_episode(e) for e in episodes]
    ax.set_xlabel("Episode")
    if episodes and all(n is not None for n in numbers):
        integer = all(float(n).is_integer() for n in numbers)  # type: ignore[arg-type]
        ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=integer, steps=[1, 2, 5, 10]))
        if len(numbers) == 1:  # one episode: centre it and show only its own tick
            ax.set_xlim(numbers[0] - 1, numbers[0] + 1)  # type: ignore[operator]
            ax.set_xticks([numbers[0]], [str(episodes[0])])
        return [float(n) for n in numbers]  # type: ignore[arg-type]
    positions = [float(i) for i in range(len(episodes))]
    step = max(1, math.ceil(len(episodes) / 12))
    tilt = {"rotation": 30, "ha": "right"} if len(episodes) > 6 else {}
    ax.set_xticks(positions[::step], [str(e) for e in episodes][::step], **tilt)
    return positions


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _marker(n_points: int) -> str | None:
    return "o" if n_points <= 40 else None


def _headroom(ax, values: Sequence[float]) -> None:
    """Room above and below the data, so a line at its maximum never touches the frame."""
    if not values:
        return
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or max(abs(hi) * 0.08, 0.5)
    ax.set_ylim(lo - pad, hi + pad)


def unique_name(prefix: str, label: str, used: set[str]) -> str:
    """``<prefix>_<slug>.png``, suffixed if two labels share a slug."""
    base = f"{prefix}_{slugify(label)}"
    name, i = f"{base}.png", 2
    while name in used:
        name, i = f"{base}_{i}.png", i + 1
    used.add(name)
    return name


def choice_figure(label: str, probe_type: str, episodes: Sequence[object],
                  counts: Sequence[Mapping[str, int]], order: Sequence[str],
                  run_title: str | None = None):
    """Share of each answer per episode (binary probes: Yes / No / Other), each answer in its
    fixed colour (:func:`label_color`)."""
    from matplotlib.ticker import PercentFormatter

    fig, ax = new_figure()
    xs = episode_axis(ax, episodes)
    shown = list(order[:MAX_CHOICE_SERIES])
    rest = [c for c in order if c not in shown]
    totals = [sum(c.values()) for c in counts]
    series = [(c, [cell.get(c, 0) for cell in counts]) for c in shown]
    if rest:
        series.append((OTHER_SERIES, [sum(cell.get(c, 0) for c in rest) for cell in counts]))
    styles = label_styles([name for name, _ in series])
    for name, values in series:
        shares = [v / t if t else math.nan for v, t in zip(values, totals)]
        color, line, mark = styles[str(name)]
        ax.plot(xs, shares, marker=mark if _marker(len(xs)) else None, markersize=4,
                linewidth=1.8, linestyle=line, label=short(name), color=color)
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("Share of answers in the episode")
    kind = "yes/no" if probe_type == "BinaryProbe" else "choice"
    _titles(fig, ax, f'Probe "{label}" ({kind}): share of each answer per episode\n'
                     f"{sum(totals)} answers over {_plural(len(episodes), 'episode')}", run_title)
    ax.legend(title="Answer", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def numeric_figure(label: str, episodes: Sequence[object], means: Sequence[float | None],
                   stdevs: Sequence[float | None], ns: Sequence[int],
                   scale: tuple[float, float] | None = None, run_title: str | None = None):
    """Mean answer per episode with a 95 % confidence band (t-based; none where n < 2).

    With a declared answer scale the y axis spans it, so small moves are not blown up visually.
    """
    fig, ax = new_figure()
    xs = episode_axis(ax, episodes)
    mean = [math.nan if m is None else m for m in means]
    lo, hi = [], []
    for m, s, n in zip(means, stdevs, ns):
        if m is None or s is None or n < 2:
            lo.append(math.nan)
            hi.append(math.nan)
        else:
            half = t_critical_95(n) * s / math.sqrt(n)
            lo.append(m - half)
            hi.append(m + half)
    color = label_color(label)
    ax.fill_between(xs, lo, hi, alpha=0.25, color=color, linewidth=0, label="95% confidence interval")
    ax.plot(xs, mean, marker=_marker(len(xs)), markersize=4, linewidth=1.8, color=color, label="Mean answer")
    if scale:
        lo_s, hi_s = scale
        pad = (hi_s - lo_s) * 0.04
        ax.set_ylim(lo_s - pad, hi_s + pad)
        ax.set_ylabel(f"Answer on the {lo_s:g}–{hi_s:g} scale (mean over agents)")
    else:
        ax.set_ylabel("Answer value (mean over agents)")
        _headroom(ax, [v for v in lo + hi + mean if not math.isnan(v)])
    _titles(fig, ax, f'Probe "{label}" (numeric rating): mean answer per episode\n'
                     f"{sum(ns)} numeric answers over {_plural(len(episodes), 'episode')}", run_title)
    ax.legend(loc="best", frameon=False)
    return fig


def wordcount_figure(series: Sequence[Mapping[str, Any]], order: Sequence[object] = (),
                     run_title: str | None = None):
    """Mean words per free-text answer per episode, one line per probe (episodes in ``order``);
    the y axis leaves headroom above the highest point, so no line runs into the frame."""
    fig, ax = new_figure()
    present = {repr(e) for s in series for e in s["episodes"]}
    all_eps = [e for e in order if repr(e) in present]
    known = {repr(e) for e in all_eps}
    all_eps += [e for s in series for e in s["episodes"] if repr(e) not in known]
    xs = episode_axis(ax, all_eps)
    pos = dict(zip(map(repr, all_eps), xs))
    styles = label_styles([str(s["label"]) for s in series])
    highest: list[float] = []
    for s in series:
        eps = list(s["episodes"])
        words = [float(w) for w in s["mean_words"]]
        color, line, mark = styles[str(s["label"])]
        ax.plot([pos[repr(e)] for e in eps], words, marker=mark if _marker(len(eps)) else None,
                markersize=4, linewidth=1.8, linestyle=line, color=color, label=short(s["label"]))
        highest += [w for w in words if math.isfinite(w)]
    ax.set_ylim(0, max(highest, default=1.0) * 1.12 or 1.0)
    ax.set_ylabel("Words per answer (mean over agents)")
    _titles(fig, ax, "Free-text probes: mean answer length per episode", run_title)
    ax.legend(title="Probe", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def top_tokens_figure(top: Sequence[tuple[str, int]], labels: Sequence[str],
                      run_title: str | None = None):
    """Horizontal bars of the most frequent content words, largest on top (long words cut)."""
    top = list(top[:TOP_TOKENS_PLOTTED])
    fig, ax = new_figure(8.0, max(3.5, 0.32 * len(top) + 1.6))
    ax.grid(True, axis="x", alpha=0.3)
    ax.grid(False, axis="y")
    words = [short(w, 30) for w, _ in top][::-1]
    counts = [c for _, c in top][::-1]
    bars = ax.barh(words, counts, color="#4c72b0")
    ax.bar_label(bars, labels=[f"{c:,}" for c in counts], padding=3, fontsize=8)
    ax.set_xlim(0, max(counts, default=1) * 1.12)
    ax.set_xlabel("Occurrences in free-text answers")
    ax.set_ylabel("Word")
    shown = ", ".join(f'"{short(lab)}"' for lab in labels[:4]) + (" …" if len(labels) > 4 else "")
    _titles(fig, ax, f"Free-text probes: {len(top)} most frequent words (stop words removed)\n"
                     f"Probes: {shown}", run_title)
    return fig


def plot_choice(path: Path, *args: Any, **kwargs: Any) -> str:
    """:func:`choice_figure` saved to ``path``."""
    return save_figure(choice_figure(*args, **kwargs), path)


def plot_numeric(path: Path, *args: Any, **kwargs: Any) -> str:
    """:func:`numeric_figure` saved to ``path``."""
    return save_figure(numeric_figure(*args, **kwargs), path)


def plot_wordcount(path: Path, *args: Any, **kwargs: Any) -> str:
    """:func:`wordcount_figure` saved to ``path``."""
    return save_figure(wordcount_figure(*args, **kwargs), path)


def plot_top_tokens(path: Path, *args: Any, **kwargs: Any) -> str:
    """:func:`top_tokens_figure` saved to ``path``."""
    return save_figure(top_tokens_figure(*args, **kwargs), path)


def render_probe_plots(plot_dir: Path, data: Mapping[str, Any],
                       identity: Mapping[str, Any] | None = None) -> tuple[list[str], list[str]]:
    """Draw every plot the data allows; returns ``(generated files, errors)``, never raises per plot.

    ``identity`` (study, condition, scenario, seed…) titles every figure; without it, it is read
    with :func:`run_identity` from where ``plot_dir`` sits in the study's ``generated/eval``.
    """
    ident = dict(identity) if identity is not None else run_identity(plot_dir)
    run_title = identity_title(ident)
    files: list[str] = []
    errors: list[str] = []
    used: set[str] = set()

    def attempt(name: str, draw) -> None:
        try:
            files.append(draw())
        except Exception as exc:  # noqa: BLE001 - one bad plot must not cost the others
            errors.append(f"{name}: {type(exc).__name__}: {exc}")

    for s in data.get("choice", []):
        name = unique_name("choice", s["label"], used)
        attempt(name, lambda s=s, name=name: plot_choice(
            plot_dir / name, s["label"], s["probe_type"], s["episodes"], s["counts"], s["order"],
            run_title))
    for s in data.get("numeric", []):
        name = unique_name("numeric", s["label"], used)
        attempt(name, lambda s=s, name=name: plot_numeric(
            plot_dir / name, s["label"], s["episodes"], s["mean"], s["stdev"], s["n"], s.get("scale"),
            run_title))
    freetext = list(data.get("freetext", []))
    if freetext:
        attempt("freetext_wordcount_over_time.png",
                lambda: plot_wordcount(plot_dir / "freetext_wordcount_over_time.png", freetext,
                                       list(data.get("episode_order", [])),
                                       run_title))
    top = list(data.get("top_tokens", []))
    if top:
        labels = [str(s["label"]) for s in freetext]
        attempt("freetext_top_tokens.png",
                lambda: plot_top_tokens(plot_dir / "freetext_top_tokens.png", top, labels, run_title))
    return files, errors
