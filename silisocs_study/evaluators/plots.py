"""PNG plots of probe answers over episodes, meant to be understood at a glance.

matplotlib is imported only when a plot is drawn, and only its object API is used (``Figure`` +
Agg canvas): no pyplot global state, no backend switching inside a host process.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .payload import numeric_episode, slugify

DPI = 150
MAX_CHOICE_SERIES = 8
TOP_TOKENS_PLOTTED = 20
OTHER_SERIES = "(other answers)"
_BINARY_COLORS = {"Yes": "#2a9d4b", "No": "#d1495b", "Other": "#8d8d8d"}
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)


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


def save_figure(fig, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
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


def unique_name(prefix: str, label: str, used: set[str]) -> str:
    """``<prefix>_<slug>.png``, suffixed if two labels share a slug."""
    base = f"{prefix}_{slugify(label)}"
    name, i = f"{base}.png", 2
    while name in used:
        name, i = f"{base}_{i}.png", i + 1
    used.add(name)
    return name


def plot_choice(path: Path, label: str, probe_type: str, episodes: Sequence[object],
                counts: Sequence[Mapping[str, int]], order: Sequence[str]) -> str:
    """Share of each answer per episode (binary probes: Yes / No / Other)."""
    from matplotlib.ticker import PercentFormatter

    fig, ax = new_figure()
    xs = episode_axis(ax, episodes)
    shown = list(order[:MAX_CHOICE_SERIES])
    rest = [c for c in order if c not in shown]
    totals = [sum(c.values()) for c in counts]
    series = [(c, [cell.get(c, 0) for cell in counts]) for c in shown]
    if rest:
        series.append((OTHER_SERIES, [sum(cell.get(c, 0) for c in rest) for cell in counts]))
    for name, values in series:
        shares = [v / t if t else math.nan for v, t in zip(values, totals)]
        color = _BINARY_COLORS.get(name) if probe_type == "BinaryProbe" else None
        ax.plot(xs, shares, marker=_marker(len(xs)), markersize=4, linewidth=1.8, label=name, color=color)
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("Share of answers in the episode")
    kind = "yes/no" if probe_type == "BinaryProbe" else "choice"
    ax.set_title(f'Probe "{label}" ({kind}): share of each answer per episode\n'
                 f"{sum(totals)} answers over {_plural(len(episodes), 'episode')}", fontsize=11)
    ax.legend(title="Answer", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_figure(fig, path)


def plot_numeric(path: Path, label: str, episodes: Sequence[object], means: Sequence[float | None],
                 stdevs: Sequence[float | None], ns: Sequence[int],
                 scale: tuple[float, float] | None = None) -> str:
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
    ax.fill_between(xs, lo, hi, alpha=0.25, color="#1f77b4", linewidth=0, label="95% confidence interval")
    ax.plot(xs, mean, marker=_marker(len(xs)), markersize=4, linewidth=1.8, color="#1f77b4", label="Mean answer")
    if scale:
        lo_s, hi_s = scale
        pad = (hi_s - lo_s) * 0.04
        ax.set_ylim(lo_s - pad, hi_s + pad)
        ax.set_ylabel(f"Answer on the {lo_s:g}–{hi_s:g} scale (mean over agents)")
    else:
        ax.set_ylabel("Answer value (mean over agents)")
    ax.set_title(f'Probe "{label}" (numeric rating): mean answer per episode\n'
                 f"{sum(ns)} numeric answers over {_plural(len(episodes), 'episode')}", fontsize=11)
    ax.legend(loc="best", frameon=False)
    return save_figure(fig, path)


def plot_wordcount(path: Path, series: Sequence[Mapping[str, object]], order: Sequence[object] = ()) -> str:
    """Mean words per free-text answer per episode, one line per probe (episodes in ``order``)."""
    fig, ax = new_figure()
    present = {repr(e) for s in series for e in s["episodes"]}  # type: ignore[union-attr]
    all_eps = [e for e in order if repr(e) in present]
    known = {repr(e) for e in all_eps}
    all_eps += [e for s in series for e in s["episodes"] if repr(e) not in known]  # type: ignore[union-attr]
    xs = episode_axis(ax, all_eps)
    pos = dict(zip(map(repr, all_eps), xs))
    for s in series:
        eps = list(s["episodes"])  # type: ignore[call-overload]
        ax.plot([pos[repr(e)] for e in eps], list(s["mean_words"]),  # type: ignore[call-overload]
                marker=_marker(len(eps)), markersize=4, linewidth=1.8, label=str(s["label"]))
    ax.set_ylim(bottom=0)
    ax.set_ylabel("Words per answer (mean over agents)")
    ax.set_title("Free-text probes: mean answer length per episode", fontsize=11)
    ax.legend(title="Probe", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_figure(fig, path)


def plot_top_tokens(path: Path, top: Sequence[tuple[str, int]], labels: Sequence[str]) -> str:
    """Horizontal bars of the most frequent content words, largest on top."""
    top = list(top[:TOP_TOKENS_PLOTTED])
    fig, ax = new_figure(8.0, max(3.5, 0.32 * len(top) + 1.6))
    ax.grid(True, axis="x", alpha=0.3)
    ax.grid(False, axis="y")
    words = [w for w, _ in top][::-1]
    counts = [c for _, c in top][::-1]
    bars = ax.barh(words, counts, color="#4c72b0")
    ax.bar_label(bars, labels=[f"{c:,}" for c in counts], padding=3, fontsize=8)
    ax.set_xlim(0, max(counts, default=1) * 1.12)
    ax.set_xlabel("Occurrences in free-text answers")
    ax.set_ylabel("Word")
    shown = ", ".join(f'"{lab}"' for lab in labels[:4]) + (" …" if len(labels) > 4 else "")
    ax.set_title(f"Free-text probes: {len(top)} most frequent words (stop words removed)\nProbes: {shown}",
                 fontsize=11)
    return save_figure(fig, path)


def render_probe_plots(plot_dir: Path, data: Mapping[str, object]) -> tuple[list[str], list[str]]:
    """Draw every plot the data allows; returns ``(generated files, errors)``, never raises per plot."""
    files: list[str] = []
    errors: list[str] = []
    used: set[str] = set()

    def attempt(name: str, draw) -> None:
        try:
            files.append(draw())
        except Exception as exc:  # noqa: BLE001 - one bad plot must not cost the others
            errors.append(f"{name}: {type(exc).__name__}: {exc}")

    for s in data.get("choice", []):  # type: ignore[union-attr]
        name = unique_name("choice", s["label"], used)
        attempt(name, lambda s=s, name=name: plot_choice(
            plot_dir / name, s["label"], s["probe_type"], s["episodes"], s["counts"], s["order"]))
    for s in data.get("numeric", []):  # type: ignore[union-attr]
        name = unique_name("numeric", s["label"], used)
        attempt(name, lambda s=s, name=name: plot_numeric(
            plot_dir / name, s["label"], s["episodes"], s["mean"], s["stdev"], s["n"], s.get("scale")))
    freetext = list(data.get("freetext", []))  # type: ignore[call-overload]
    if freetext:
        attempt("freetext_wordcount_over_time.png",
                lambda: plot_wordcount(plot_dir / "freetext_wordcount_over_time.png", freetext,
                                       list(data.get("episode_order", []))))  # type: ignore[call-overload]
    top = list(data.get("top_tokens", []))  # type: ignore[call-overload]
    if top:
        labels = [str(s["label"]) for s in freetext]
        attempt("freetext_top_tokens.png",
                lambda: plot_top_tokens(plot_dir / "freetext_top_tokens.png", top, labels))
    return files, errors
