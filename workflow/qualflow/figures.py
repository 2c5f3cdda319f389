"""Figures of stage 8: themes by each comparison group and by site, drawn from theme_matrix.tsv only.

The groups are the study's (config ``groups``): one bar figure per group (the first demo's one group
is the income setting, ``themes_by_setting``), and a heatmap by site with the sites grouped by the
first group that does not change between waves.

Design choices, and why:

* **Colour-blind safe and greyscale-readable.** A group's values use, in declared order, the
  Okabe–Ito orange (light, hatched) and blue (dark), then green and purple with other hatches, so they
  differ in lightness as well as hue; the first value's bars are hatched, and every
  bar carries its count ("7/9"), so the figure survives a black-and-white printer. The heatmap uses
  ``cividis`` (designed for colour-vision deficiency, lightness rises monotonically) and prints each
  cell's numbers, in black or white by the cell's lightness.
* **The plotted numbers are returned.** Each ``plot_*`` function returns ``(figure, data)``; the
  tests compare ``data`` with the matrix and read the labels back from the SVG, so a figure cannot
  silently disagree with the table it illustrates. Text is kept as ``<text>`` in the SVG
  (``svg.fonttype: none``): searchable, and checkable.
* **Byte-identical re-runs.** No pyplot global state (figures are plain ``Figure`` objects drawn
  by Agg), a fixed ``svg.hashsalt``, and no dates or software versions in the file metadata.
"""
from __future__ import annotations

import io
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from .design import Group
from .tables import atomic_write, read_results_tsv

__all__ = [
    "OKABE_ITO", "VALUE_STYLES", "RC", "read_matrix", "group_data", "site_data",
    "plot_themes_by_group", "plot_themes_by_site", "figure_bytes", "save_figure", "write_figures",
]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {"orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000"}
#: A group's values in declared order: light hatched orange, dark plain blue (distinct in greyscale
#: too), then green and purple with their own hatches, then round again.
VALUE_STYLES = [{"color": OKABE_ITO["orange"], "hatch": "///"}, {"color": OKABE_ITO["blue"], "hatch": ""},
                {"color": OKABE_ITO["green"], "hatch": "xx"}, {"color": OKABE_ITO["purple"], "hatch": ".."}]
HEATMAP_CMAP = "cividis"
#: Deterministic output and real text in the SVG.
RC = {"svg.hashsalt": "qualflow", "svg.fonttype": "none", "font.family": "DejaVu Sans",
      "font.size": 9, "hatch.linewidth": 0.8, "axes.spines.top": False, "axes.spines.right": False}
DPI = 300
INT_COLUMNS = ["theme_number", "coded_units", "transcripts", "transcripts_total", "participants",
               "participants_total", "participant_words"]
#: Counts that are empty in a "not coded" row (read as <NA>), and the ones older matrices lack.
OPTIONAL_INT_COLUMNS = ["focus_groups_total", "fg_participants", "fg_participants_total", "interviews_total",
                        "interviewees", "interviewees_total", "transcripts_not_coded"]
MEASURES = {"transcripts": "Transcripts", "participants": "Participants",
            "fg_participants": "Focus-group participants", "interviewees": "Interviewees"}
#: What the group figure plots (changed: issue 12): the share of transcripts mentioning a theme reads
#: ~100 % everywhere (a focus group touches every theme), so only people are plotted; and focus-group
#: participants and interviewees in separate panels (a panel only when the study has that kind), so
#: the focus-group denominators are Table 2's. The other counts stay in theme_matrix.tsv and group_data.
FIGURE_MEASURES = {"fg_participants": "Focus-group participants", "interviewees": "Interviewees"}
NOT_CODED = "not coded"
#: A "not coded" bar or cell: light grey with a grey cross-hatch and the words, distinct from any
#: group value's colour and from a real 0 % (which has no bar), in colour and in print.
NOT_CODED_STYLE = {"color": "#eeeeee", "hatch": "xx", "edgecolor": "#8c8c8c"}
#: The heatmap's colour scale runs from 0 to this percentile of the cells' rates, so one site with a
#: very high rate does not wash out the others (cells above it get the top colour; the colour bar
#: shows an arrow). Stated in the caption.
HEATMAP_PERCENTILE = 90


def read_matrix(path: str | Path) -> pd.DataFrame:
    """theme_matrix.tsv with its counts as integers (<NA> in a "not coded" row) and the rate as a
    float (NaN when empty)."""
    df = read_results_tsv(path)
    for col in INT_COLUMNS + [c for c in OPTIONAL_INT_COLUMNS if c in df.columns]:
        df[col] = pd.to_numeric(df[col].replace("", np.nan)).astype("Int64")
    if "status" not in df.columns:
        df["status"] = "coded"
    df["units_per_1000_words"] = pd.to_numeric(df["units_per_1000_words"].replace("", np.nan))
    return df


def _style(value: str, group: Group) -> dict:
    """Colour, hatch and legend label of a group value (by its place in the declared values)."""
    values = list(group.values)
    i = values.index(value) if value in values else len(values)
    return {**VALUE_STYLES[i % len(VALUE_STYLES)], "label": group.value_label(value)}



def _lower_first(label: str) -> str:
    """A label inside a sentence: "Income group (World Bank)" -> "income group (World Bank)"."""
    return label[:1].lower() + label[1:]


def _theme_labels(matrix: pd.DataFrame, width: int = 24) -> list[str]:
    themes = matrix.drop_duplicates("theme").sort_values("theme_number")
    return [textwrap.fill(f"{n}. {l}", width) for n, l in zip(themes["theme_number"], themes["theme_label"])]


# --------------------------------------------------------------------------------------------
# themes by comparison group
# --------------------------------------------------------------------------------------------

def group_data(matrix: pd.DataFrame, group: Group) -> pd.DataFrame:
    """What a group's figure plots: per theme, group value and measure, count / total and the share.

    Taken from the matrix's ``level == <group id>`` rows, in theme then value order as stored; the
    value is in the column named after the group (e.g. ``setting``). A row whose value is not coded
    has ``status`` "not coded", no share and the label "not coded"; a value without people of the
    measure's kind (no interviews there) has the label "none".
    """
    rows = matrix[matrix["level"] == group.id]
    status = rows["status"].to_numpy() if "status" in rows.columns else np.array(["coded"] * len(rows))
    out = []
    for measure in MEASURES:
        if measure not in rows.columns:
            continue
        part = rows[["theme_number", "theme", "theme_label", group.id]].copy()
        part.insert(0, "measure", measure)
        part["status"] = status
        part["count"] = rows[measure].astype("Int64").to_numpy()
        part["total"] = rows[f"{measure}_total"].astype("Int64").to_numpy()
        out.append(part)
    df = pd.concat(out, ignore_index=True)
    not_coded = (df["status"] == NOT_CODED) | df["total"].isna()
    total = df["total"].fillna(0).astype("int64")
    count = df["count"].fillna(0).astype("int64")
    df["share"] = np.where(not_coded | (total == 0), np.nan, count / total.where(total > 0, 1))
    df["label"] = [NOT_CODED if nc else "none" if t == 0 else f"{c}/{t}"
                   for nc, c, t in zip(not_coded, count, total)]
    return df.reset_index(drop=True)


def figure_measures(data: pd.DataFrame) -> dict[str, str]:
    """The panels a group figure draws: each of ``FIGURE_MEASURES`` with anyone in its denominator."""
    return {m: t for m, t in FIGURE_MEASURES.items()
            if (data.loc[data["measure"] == m, "total"].fillna(0) > 0).any()} or \
        {"participants": MEASURES["participants"]}


def plot_themes_by_group(matrix: pd.DataFrame, group: Group) -> tuple[Figure, pd.DataFrame]:
    """One panel per kind of participant (focus groups, interviews): share mentioning each theme,
    per value of the group; a value not coded is a grey hatched bar labelled "not coded"."""
    data = group_data(matrix, group)
    panels = figure_measures(data)
    settings = list(dict.fromkeys(data[group.id]))
    themes = list(dict.fromkeys(data.sort_values("theme_number")["theme"]))
    n_t, n_s = len(themes), len(settings)
    height = 0.8 / max(n_s, 1)
    any_not_coded = bool((data["label"] == NOT_CODED).any())
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(5.4 if len(panels) == 1 else 8.6, 1.0 + 0.62 * n_t * max(n_s, 2) / 2),
                     layout="constrained")
        axes = list(np.atleast_1d(fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]))
        for ax, (measure, title) in zip(axes, panels.items()):
            d = data[data["measure"] == measure]
            for j, setting in enumerate(settings):
                st = _style(setting, group)
                ds = d[d[group.id] == setting].set_index("theme").reindex(themes)
                y = np.arange(n_t) + (j - (n_s - 1) / 2) * height
                share = ds["share"].to_numpy(dtype="float64")
                drawn = np.nan_to_num(share) * 100
                ax.barh(y, drawn, height=height * 0.92, color=st["color"], hatch=st["hatch"],
                        edgecolor="#222222", linewidth=0.6, label=st["label"])
                for yy, sh, theme, lab in zip(y, share, themes, ds["label"]):
                    if lab == NOT_CODED:
                        ax.barh(yy, 100, height=height * 0.92, color=NOT_CODED_STYLE["color"],
                                hatch=NOT_CODED_STYLE["hatch"], edgecolor=NOT_CODED_STYLE["edgecolor"],
                                linewidth=0.6)
                        ax.text(50, yy, lab, va="center", ha="center", fontsize=7.5, color="#222222",
                                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.8},
                                gid=f"count:{measure}:{setting}:{theme}")
                    else:
                        ax.text((0 if np.isnan(sh) else sh * 100) + 1.5, yy, lab, va="center", ha="left",
                                fontsize=7.5, gid=f"count:{measure}:{setting}:{theme}")
            ax.set_xlim(0, 118)
            ax.set_xticks([0, 25, 50, 75, 100])
            ax.set_xlabel(f"{title} mentioning the theme (%)")
            ax.xaxis.grid(True, color="#dddddd", linewidth=0.6)
            ax.set_axisbelow(True)
            ax.tick_params(axis="y", length=0)
        axes[0].set_yticks(np.arange(n_t))
        axes[0].set_yticklabels(_theme_labels(matrix))
        axes[0].invert_yaxis()
        handles = [Patch(facecolor=_style(s, group)["color"], hatch=_style(s, group)["hatch"],
                         edgecolor="#222222", label=_style(s, group)["label"]) for s in settings]
        if any_not_coded:
            handles.append(Patch(facecolor=NOT_CODED_STYLE["color"], hatch=NOT_CODED_STYLE["hatch"],
                                 edgecolor=NOT_CODED_STYLE["edgecolor"], label="Not coded (left out)"))
        per_row = len(handles) if len(handles) <= 2 * len(panels) else 2 * len(panels)   # fits the width
        fig.legend(handles=handles, loc="outside lower center", ncols=max(per_row, 1), frameon=False)
    return fig, data


# --------------------------------------------------------------------------------------------
# theme x site heatmap
# --------------------------------------------------------------------------------------------

def site_data(matrix: pd.DataFrame, group: Group | None = None) -> pd.DataFrame:
    """What the heatmap plots: coded units and units per 1,000 participant words per theme and site.

    Columns are grouped by ``group`` (its values in declared order; sites.tsv order without a
    group), sites in the matrix's (sites.tsv) order within a group; ``column`` is the site's position
    on the x axis and ``group`` the site's value ("" without a group). ``status`` is the matrix's
    ("not coded": no counts, drawn as a hatched grey cell labelled so).
    """
    rows = matrix[matrix["level"] == "site"].copy()
    if "status" not in rows.columns:
        rows["status"] = "coded"
    rows["group"] = rows[group.id] if group is not None else ""
    present = list(dict.fromkeys(rows["group"]))
    settings = [v for v in (group.values if group is not None else ()) if v in present]
    settings += sorted(set(present) - set(settings))
    site_order = list(dict.fromkeys(rows["site"]))
    ordered = [s for g in settings for s in site_order if rows.loc[rows["site"] == s, "group"].iloc[0] == g]
    rows["column"] = rows["site"].map({s: i for i, s in enumerate(ordered)})
    rows = rows.sort_values(["theme_number", "column"], kind="stable")
    cols = ["theme_number", "theme", "theme_label", "column", "site", "name", "group", "status", "coded_units",
            "units_per_1000_words"]
    return rows[cols].reset_index(drop=True)


def robust_max(rate: np.ndarray) -> tuple[float, bool]:
    """The top of the heatmap's colour scale: the ``HEATMAP_PERCENTILE`` percentile of the finite
    cells (1 when there are none or all are 0), and whether any cell lies above it."""
    finite = rate[np.isfinite(rate)]
    if not finite.size or finite.max() <= 0:
        return 1.0, False
    top = float(np.percentile(finite, HEATMAP_PERCENTILE))
    if top <= 0:
        top = float(finite.max())
    return top, bool((finite > top).any())


def _text_colour(rgba: tuple[float, ...]) -> str:
    r, g, b = rgba[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "white"


def plot_themes_by_site(matrix: pd.DataFrame, group: Group | None = None) -> tuple[Figure, pd.DataFrame]:
    """Heatmap theme x site: colour = coded units per 1,000 participant words, text = counts.

    Sites are grouped (a header above each run of columns) by ``group``, when given.
    """
    data = site_data(matrix, group)
    themes = list(dict.fromkeys(data["theme"]))
    sites = data.drop_duplicates("site").sort_values("column")
    n_t, n_c = len(themes), len(sites)
    rate = np.full((n_t, n_c), np.nan)
    for r in data.itertuples():
        rate[themes.index(r.theme), r.column] = r.units_per_1000_words
    vmax, capped = robust_max(rate)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(1.9 + 1.05 * n_c + 1.2, 1.6 + 0.55 * n_t), layout="constrained")
        ax = fig.subplots()
        cmap = matplotlib.colormaps[HEATMAP_CMAP].with_extremes(bad="#d9d9d9")
        norm = matplotlib.colors.Normalize(vmin=0, vmax=vmax)
        # cells as vector rectangles (not an image: an SVG would embed it resampled at 300 dpi, the
        # slowest step of the figures job, and a viewer may smooth it)
        im = ax.pcolormesh(np.arange(n_c + 1) - 0.5, np.arange(n_t + 1) - 0.5, np.ma.masked_invalid(rate),
                           cmap=cmap, norm=norm)
        ax.set_xlim(-0.5, n_c - 0.5)
        for r in data.itertuples():
            i, j = themes.index(r.theme), r.column
            if r.status == NOT_CODED:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=NOT_CODED_STYLE["color"],
                                       hatch=NOT_CODED_STYLE["hatch"], edgecolor=NOT_CODED_STYLE["edgecolor"],
                                       linewidth=0))
                ax.text(j, i, "not\ncoded", ha="center", va="center", fontsize=7, color="#222222",
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.8},
                        gid=f"cell:{r.theme}:{r.site}")
                continue
            value = rate[i, j]
            colour = "black" if np.isnan(value) else _text_colour(cmap(norm(value)))
            sub = "n/a" if np.isnan(value) else f"{value:.1f}/1k"
            ax.text(j, i - 0.1, f"{r.coded_units}", ha="center", va="center", fontsize=9, fontweight="bold",
                    color=colour, gid=f"cell:{r.theme}:{r.site}")
            ax.text(j, i + 0.24, sub, ha="center", va="center", fontsize=6.5, color=colour)
        ax.set_xticks(np.arange(n_c))
        ax.set_xticklabels([textwrap.fill(n, 12) for n in sites["name"]])
        ax.set_yticks(np.arange(n_t))
        ax.set_yticklabels(_theme_labels(matrix, 28))
        ax.tick_params(length=0)
        ax.set_xticks(np.arange(n_c + 1) - 0.5, minor=True)       # thin white lines between cells
        ax.set_yticks(np.arange(n_t + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=1.0)
        ax.tick_params(which="minor", length=0)
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
        # group labels above the columns, separator lines between groups
        groups = list(dict.fromkeys(sites["group"])) if group is not None else []
        for g in groups:
            cols = sites.loc[sites["group"] == g, "column"].to_numpy()
            lo, hi = cols.min(), cols.max()
            ax.annotate("", xy=(lo - 0.42, -0.62), xytext=(hi + 0.42, -0.62), annotation_clip=False,
                        arrowprops={"arrowstyle": "-", "color": "#333333", "linewidth": 1.0})
            ax.text((lo + hi) / 2, -0.72, group.value_short(g),
                    ha="center", va="bottom", fontsize=9, fontweight="bold", gid=f"group:{g}")
            if hi < n_c - 1:
                ax.plot([hi + 0.5] * 2, [-0.5, n_t - 0.5], color="white", linewidth=5, solid_capstyle="butt")
                ax.plot([hi + 0.5] * 2, [-0.5, n_t - 0.5], color="#222222", linewidth=1.4, solid_capstyle="butt")
        ax.set_ylim(n_t - 0.5, -1.1)
        ax.set_xlabel(f"Site (grouped by {_lower_first(group.label)})" if group is not None else "Site")
        cb = fig.colorbar(im, ax=ax, shrink=0.85, pad=0.02, extend="max" if capped else "neither")
        cb.set_label(f"Coded units per 1,000 participant words\n(scale 0 to {vmax:.1f}, the "
                     f"{HEATMAP_PERCENTILE}th percentile of the cells)")
        cb.outline.set_visible(False)
    return fig, data


# --------------------------------------------------------------------------------------------
# saving
# --------------------------------------------------------------------------------------------

def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """Render a figure deterministically: fixed hash salt, no date, creator or software tags."""
    buf = io.BytesIO()
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format=fmt, dpi=DPI, metadata=metadata, facecolor="white")
    return buf.getvalue()


def save_figure(fig: Figure, png: str | Path, svg: str | Path) -> None:
    """Write PNG (300 dpi) and SVG atomically."""
    for path, fmt in ((png, "png"), (svg, "svg")):
        data = figure_bytes(fig, fmt)
        with atomic_write(path, "wb") as fh:
            fh.write(data)


def write_figures(matrix: str | Path, group_pngs: list[str], group_svgs: list[str],
                  site_png: str | Path, site_svg: str | Path, design: dict | None = None) -> None:
    """The figures step: read theme_matrix.tsv; one figure per comparison group (in declared order,
    ``group_pngs``/``group_svgs`` aligned with them) and the heatmap by site; PNG and SVG of each.

    ``design`` is the study's design as rule params (``design.design_params``).
    """
    from .design import design_from_params

    groups = list(design_from_params(design).groups)
    if len(groups) != len(group_pngs) or len(groups) != len(group_svgs):
        raise ValueError(f"{len(groups)} groups but {len(group_pngs)} PNG and {len(group_svgs)} SVG paths")
    m = read_matrix(matrix)
    for g, png, svg in zip(groups, group_pngs, group_svgs):
        fig, _ = plot_themes_by_group(m, g)
        save_figure(fig, png, svg)
    fixed = next((g for g in groups if not g.per_wave), None)
    fig, _ = plot_themes_by_site(m, fixed)
    save_figure(fig, site_png, site_svg)
