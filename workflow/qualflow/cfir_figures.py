"""Figures of the CFIR stage, drawn from ``results/cfir/ratings.tsv`` only.

* **Heatmap** (``cfir_heatmap``): CFIR constructs (rows, grouped by domain) × sites (columns, grouped
  by the study's comparison group, e.g. lower-resource vs high-resource), one panel per wave. The
  five ratings use ColorBrewer's diverging PuOr (colour-blind safe: orange barriers, purple
  facilitators, lightness symmetric around a white 0), and every cell prints its rating, so the
  figure reads in greyscale too; X (mixed) cells are grey and hatched, M (missing) cells white
  with a light "M".
* **Before → after per domain** (``cfir_before_after_<domain>``): each construct of the domain, one
  row per site, an arrow from the earlier wave's rating to the later one's on the −2…+2 scale, with
  X and M in their own columns at the right; the earlier wave an open circle, the later a filled
  one, so direction and size of change read without colour.

Each ``plot_*`` returns ``(figure, data)``: ``data`` is what was drawn, one row per cell, so a test can
hold it equal to the ratings table. Rendering is deterministic (``figures.figure_bytes``).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pandas as pd

from .tables import read_results_tsv

if TYPE_CHECKING:   # matplotlib is imported where a figure is drawn: cfir.smk imports this module at load
    from matplotlib.figure import Figure

log = logging.getLogger("qualflow.cfir")

__all__ = ["RATING_COLOURS", "heatmap_data", "plot_heatmap", "before_after_data", "plot_before_after",
           "heatmap_group", "write_cfir_figures"]

#: ColorBrewer PuOr, 5 classes: barrier orange ... facilitator purple; X grey, M white.
RATING_COLOURS = {"-2": "#E66101", "-1": "#FDB863", "0": "#F7F7F7", "+1": "#B2ABD2", "+2": "#5E3C99",
                  "X": "#BDBDBD", "M": "#FFFFFF"}
_DARK = {"-2", "+2"}                   # cells whose text is white
_RATING_LABELS = {"-2": "−2 strong barrier", "-1": "−1 barrier", "0": "0 neutral",
                  "+1": "+1 facilitator", "+2": "+2 strong facilitator", "X": "X mixed", "M": "M missing"}


def _label(r: str) -> str:
    return r.replace("-", "−")


def _site_order(sites: pd.DataFrame, group: str | None, group_values: Sequence[str]) -> list[tuple[str, str, str]]:
    """(site, name, group value) in group order (declared values first), sites.tsv order within."""
    rows = list(sites.itertuples(index=False))
    if not group or group not in sites.columns:
        return [(r.site, r.name, "") for r in rows]
    order = {v: i for i, v in enumerate(group_values)}
    keyed = sorted(enumerate(rows), key=lambda x: (order.get(getattr(x[1], group), len(order)), x[0]))
    return [(r.site, r.name, getattr(r, group)) for _i, r in keyed]


def heatmap_data(ratings: pd.DataFrame, sites: pd.DataFrame, waves: Sequence[str], group: str | None = None,
                 group_values: Sequence[str] = ()) -> pd.DataFrame:
    """The heatmap's cells: wave, site, domain, construct, rating (construct rows of the ratings)."""
    r = ratings[ratings["level"] == "construct"]
    order = [s for s, _n, _g in _site_order(sites, group, group_values)]
    rank = {s: i for i, s in enumerate(order)}
    waves = list(waves) or [""]
    out = r[r["wave"].isin(waves)][["wave", "site", "domain", "construct", "rating"]].copy()
    out["_w"] = out["wave"].map(waves.index)
    out["_s"] = out["site"].map(rank)
    cons = list(dict.fromkeys(r["construct"]))
    out["_c"] = out["construct"].map(cons.index)
    return out.sort_values(["_w", "_c", "_s"]).drop(columns=["_w", "_s", "_c"]).reset_index(drop=True)


def plot_heatmap(ratings: pd.DataFrame, sites: pd.DataFrame, waves: Sequence[str], labels: Mapping[str, str],
                 domain_labels: Mapping[str, str], wave_labels: Mapping[str, str], group: str | None = None,
                 group_values: Sequence[str] = (), group_labels: Mapping[str, str] | None = None
                 ) -> tuple[Figure, pd.DataFrame]:
    """Construct × site heatmap, one panel per wave (module docstring)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    data = heatmap_data(ratings, sites, waves, group, group_values)
    site_rows = _site_order(sites, group, group_values)
    cons = list(dict.fromkeys(data["construct"]))
    dom = dict(zip(data["construct"], data["domain"]))
    waves = list(waves) or [""]
    # rows: a header row per domain, then its constructs
    rows: list[tuple[str, str]] = []
    for c in cons:
        if not rows or dom[c] != dom[[x for k, x in rows if k == "c"][-1]]:
            rows.append(("d", dom[c]))
        rows.append(("c", c))
    n_s, n_r = len(site_rows), len(rows)
    fig = Figure(figsize=(2.4 + 0.55 * n_s * len(waves) + 0.4 * len(waves), 1.9 + 0.27 * n_r))
    axes = fig.subplots(1, len(waves), sharey=True, squeeze=False)[0]
    cell = {(w, s, c): r for w, s, c, r in zip(data["wave"], data["site"], data["construct"], data["rating"])}
    for ax, w in zip(axes, waves):
        for j, (kind, c) in enumerate(rows):
            if kind == "d":
                if j:
                    ax.axhline(j, color="black", linewidth=1.2)
                continue
            for i, (s, _n, _g) in enumerate(site_rows):
                r = cell.get((w, s, c), "M")
                ax.add_patch(Rectangle((i, j), 1, 1, facecolor=RATING_COLOURS[r], edgecolor="#636363",
                                       linewidth=0.4, hatch="////" if r == "X" else None))
                ax.text(i + 0.5, j + 0.5, _label(r), ha="center", va="center", fontsize=7,
                        color="white" if r in _DARK else ("#969696" if r == "M" else "black"))
        ax.set_xlim(0, n_s)
        ax.set_ylim(n_r, 0)
        ax.set_xticks(np.arange(n_s) + 0.5)
        ax.set_xticklabels([n for _s, n, _g in site_rows], rotation=60, ha="right", fontsize=7)
        ax.tick_params(length=0)
        for sp in ax.spines.values():
            sp.set_visible(False)
        ax.set_title(wave_labels.get(w, w) or "All", fontsize=9, pad=26)
        # comparison-group brackets above the columns, separators between groups
        groups = [g for _s, _n, g in site_rows]
        start = 0
        for i in range(1, n_s + 1):
            if i == n_s or groups[i] != groups[start]:
                if groups[start]:
                    ax.plot([start + 0.08, i - 0.08], [-0.25, -0.25], color="black", linewidth=0.8,
                            clip_on=False)
                    ax.text((start + i) / 2, -0.4, (group_labels or {}).get(groups[start], groups[start]),
                            ha="center", va="bottom", fontsize=7, clip_on=False)
                if i < n_s:
                    ax.axvline(i, color="black", linewidth=1.2)
                start = i
    ax0 = axes[0]
    ax0.set_yticks(np.arange(n_r) + 0.5)
    ax0.set_yticklabels([labels.get(c, c) if k == "c" else domain_labels.get(c, c).upper() for k, c in rows],
                        fontsize=7)
    for tick, (k, _c) in zip(ax0.get_yticklabels(), rows):
        if k == "d":
            tick.set_fontweight("bold")
            tick.set_fontsize(6.5)
    handles = [Patch(facecolor=RATING_COLOURS[k], edgecolor="#636363", hatch="////" if k == "X" else None,
                     label=_RATING_LABELS[k]) for k in RATING_COLOURS]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle("CFIR ratings by construct and site (Damschroder & Lowery 2013)", fontsize=10, y=0.99)
    fig.subplots_adjust(left=0.34 if len(waves) == 1 else 0.26, right=0.98, top=0.85, bottom=0.2, wspace=0.08)
    return fig, data


_X_POS = {"-2": -2, "-1": -1, "0": 0, "+1": 1, "+2": 2, "X": 3.4, "M": 4.4}


def before_after_data(ratings: pd.DataFrame, domain: str, waves: Sequence[str], site_ids: Sequence[str]) -> pd.DataFrame:
    """One row per construct × site of ``domain``: the rating at the first and at the last wave."""
    r = ratings[(ratings["level"] == "construct") & (ratings["domain"] == domain)]
    a, b = waves[0], waves[-1]
    cons = list(dict.fromkeys(r["construct"]))
    ra = r[r["wave"] == a].set_index(["construct", "site"])["rating"]
    rb = r[r["wave"] == b].set_index(["construct", "site"])["rating"]
    rows = [{"construct": c, "site": s, "before": ra.get((c, s), "M"), "after": rb.get((c, s), "M")}
            for c in cons for s in site_ids]
    return pd.DataFrame(rows, columns=["construct", "site", "before", "after"])


def plot_before_after(ratings: pd.DataFrame, domain: str, domain_label: str, waves: Sequence[str],
                      wave_labels: Mapping[str, str], sites: pd.DataFrame, labels: Mapping[str, str]
                      ) -> tuple[Figure, pd.DataFrame]:
    """Before → after per construct and site for one domain (module docstring)."""
    from matplotlib.figure import Figure

    site_ids = list(sites["site"])
    names = dict(zip(sites["site"], sites["name"]))
    data = before_after_data(ratings, domain, waves, site_ids)
    cons = list(dict.fromkeys(data["construct"]))
    n = len(data)
    height = 1.3 + 0.2 * n + 0.15 * len(cons)
    fig = Figure(figsize=(6.3, height))
    ax = fig.subplots()
    y, yticks, ylabels = 0.0, [], []
    for c in cons:
        ax.text(-2.6, y, labels.get(c, c), fontsize=7.5, fontweight="bold", ha="left", va="center")
        y += 0.6
        for row in data[data["construct"] == c].itertuples():
            x0, x1 = _X_POS[row.before], _X_POS[row.after]
            if x0 != x1:
                ax.annotate("", xy=(x1, y), xytext=(x0, y),
                            arrowprops=dict(arrowstyle="-|>", color="#525252", linewidth=0.9,
                                            shrinkA=3, shrinkB=3, mutation_scale=7))
            ax.plot([x0], [y], marker="o", markersize=7, markerfacecolor="white", markeredgecolor="black",
                    linestyle="none", markeredgewidth=0.9)
            ax.plot([x1], [y], marker="o", markersize=4.2, color="black", linestyle="none")
            yticks.append(y)
            ylabels.append(names.get(row.site, row.site))
            y += 0.55
        y += 0.35
    ax.set_yticks(yticks)
    ax.set_yticklabels(ylabels, fontsize=6.5)
    ax.set_ylim(y, -0.6)
    ax.set_xlim(-2.7, 4.9)
    ax.set_xticks(list(_X_POS.values()))
    ax.set_xticklabels(["−2", "−1", "0", "+1", "+2", "X", "M"], fontsize=7.5)
    ax.axvspan(-2.5, -0.5, color=RATING_COLOURS["-1"], alpha=0.25, linewidth=0)
    ax.axvspan(0.5, 2.5, color=RATING_COLOURS["+1"], alpha=0.25, linewidth=0)
    ax.axvline(2.9, color="#969696", linewidth=0.6, linestyle=":")
    top = ax.get_xaxis_transform()
    ax.text(-1.5, 1.005, "barrier", ha="center", va="bottom", fontsize=7, color="#7F3B08", transform=top)
    ax.text(1.5, 1.005, "facilitator", ha="center", va="bottom", fontsize=7, color="#2D004B", transform=top)
    ax.grid(axis="x", color="#d9d9d9", linewidth=0.5)
    a, b = waves[0], waves[-1]
    ax.set_xlabel(f"rating: ○ {wave_labels.get(a, a)}  →  ● {wave_labels.get(b, b)}", fontsize=7.5)
    ax.set_title(f"{domain_label}: CFIR ratings before and after", fontsize=9, pad=14)
    fig.subplots_adjust(left=0.2, right=0.98, top=1 - 0.55 / height, bottom=0.5 / height)
    return fig, data


def heatmap_group(design, chosen: str | None = None) -> dict | None:
    """The comparison group the heatmap groups sites by, as rule params: ``chosen`` (config
    ``cfir.group``) if declared, else the first group that is not per wave; None without groups."""
    groups = [g for g in design.groups if not g.per_wave]
    pick = [g for g in groups if g.id == chosen] or groups[:1]
    if not pick:
        return None
    return dict(id=pick[0].id, values=list(pick[0].values), value_labels=list(pick[0].value_labels))


def write_cfir_figures(ratings: str, sites: str, waves: Sequence[Mapping], domains: Sequence[Mapping],
                       codes: Sequence[Mapping], group: Mapping | None, heatmap_png: str, heatmap_svg: str,
                       domain_pngs: Sequence[str], domain_svgs: Sequence[str]) -> None:
    """Rule ``cfir_figures``: the heatmap and one before→after figure per domain (in domain order).

    ``waves``: the config's waves (id, label); ``domains``: the codebook's themes (id, label);
    ``group``: the comparison group the heatmap groups sites by (id, values, value_labels) or None.
    """
    from .figures import save_figure

    r = read_results_tsv(ratings)
    s = read_results_tsv(sites)
    wave_ids = [w["id"] for w in waves]
    wave_labels = {w["id"]: w.get("label", w["id"]) for w in waves}
    labels = {c["id"]: c["label"] for c in codes}
    dl = {d["id"]: d["label"] for d in domains}
    g = group or {}
    fig, _ = plot_heatmap(r, s, wave_ids, labels, dl, wave_labels, g.get("id"), g.get("values", ()),
                          dict(zip(g.get("values", ()), g.get("value_labels", ()))))
    save_figure(fig, heatmap_png, heatmap_svg)
    if len(wave_ids) >= 2:
        for d, png, svg in zip(domains, domain_pngs, domain_svgs):
            fig, _ = plot_before_after(r, d["id"], d["label"], wave_ids, wave_labels, s, labels)
            save_figure(fig, png, svg)
    log.info("CFIR heatmap and %d before/after figures written", len(domain_pngs))
