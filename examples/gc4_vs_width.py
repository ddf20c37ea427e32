#!/usr/bin/env python3
"""Rebuild the report's "connected four-point function against the width" figure from the store.

Usage:
    python3 examples/gc4_vs_width.py [--store DIR] [--pipeline NAME] [--fit STAGE] [--out FILE.png]
    python3 examples/gc4_vs_width.py --fit-dir artifacts/objects/<hash> --out gc4.png

It asks `cargo xtask show PIPELINE STAGE --json` where the fit's object is (or takes --fit-dir), reads
points.parquet and fits.parquet with DuckDB, and plots |G_c^(4)| (the combination average, 95% bootstrap
intervals over bags) against the width N on log-log axes, with the exact finite-N values and the fitted power
law. Needs: duckdb, matplotlib (pip install duckdb matplotlib). The columns are described in docs/glossary.md.
"""

import argparse
import json
import subprocess
import sys

import duckdb
import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

QUANTITY = "gc4_abs"  # |combination average of G_c^(4)|, the quantity the G_c^(4) ~ 1/N claim fits
FIT_ID = "gc4_abs_vs_N"


def fit_dir_from_store(store, pipeline, stage):
    cmd = ["cargo", "xtask", "show", pipeline, stage, "--json"]
    if store:
        cmd[2:2] = ["--store", store]
    rows = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    if not rows or rows[0]["path"] is None:
        sys.exit(f"{stage} of {pipeline} is not computed: run `cargo xtask run {pipeline}` first")
    return rows[0]["path"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="artifact store (default: xtask's)")
    ap.add_argument("--pipeline", default="smoke")
    ap.add_argument("--fit", default="fit_width", help="the fit stage of a width sweep")
    ap.add_argument("--fit-dir", help="the fit object's directory (instead of asking xtask)")
    ap.add_argument("--out", default="gc4_vs_width.png")
    ap.add_argument("--estimator", choices=["products", "conditional"],
                    help="estimator of the Green functions (default: conditional where the fit has it)")
    a = ap.parse_args()
    d = a.fit_dir or fit_dir_from_store(a.store, a.pipeline, a.fit)

    con = duckdb.connect()
    # Every row names its estimator of the Green functions; like the report, draw the conditional-Gaussian one
    # where the fit has it, else the products of f (the papers' estimator).
    estimators = {e for (e,) in con.execute(f"SELECT DISTINCT estimator FROM '{d}/fits.parquet'").fetchall()}
    estimator = a.estimator or ("conditional" if "conditional" in estimators else "products")
    pts = con.execute(
        f"SELECT x, y, ci_low, ci_high, exact, resolvable FROM '{d}/points.parquet' "
        "WHERE quantity = ? AND estimator = ? ORDER BY x",
        [QUANTITY, estimator],
    ).fetchall()
    if not pts:
        sys.exit(f"{d}/points.parquet has no rows for {QUANTITY}")
    fit = con.execute(
        f"SELECT estimate, ci_low, ci_high, predicted, n_used FROM '{d}/fits.parquet' WHERE id = ? AND estimator = ?",
        [FIT_ID, estimator],
    ).fetchone()
    params = dict(
        (k.decode(), v.decode())
        for _, k, v in con.execute(f"SELECT * FROM parquet_kv_metadata('{d}/points.parquet')").fetchall()
    )
    sample = json.loads(params["nnqft.params"])["sample"][0]

    fig, ax = plt.subplots(figsize=(6, 4.2))
    used = [p for p in pts if p[5] and p[1] is not None and p[1] > 0]
    for group, label, style in ((used, "Monte Carlo (95% interval)", "o"),
                                ([p for p in pts if p not in used], "unresolvable", "x")):
        if not group:
            continue
        x = [p[0] for p in group]
        y = [abs(p[1]) for p in group]
        lo = [max(yi - (p[2] if p[2] is not None else yi), 0) for yi, p in zip(y, group)]
        hi = [(p[3] if p[3] is not None else yi) - yi for yi, p in zip(y, group)]
        ax.errorbar(x, y, yerr=[lo, hi], fmt=style, capsize=3, label=label)
    ex = [(p[0], abs(p[4])) for p in pts if p[4] is not None]
    if ex:
        ax.plot(*zip(*ex), "k--", label="exact (finite N)")
    slope = None
    if fit is not None and fit[0] is not None and len(used) >= 2:
        import math
        slope = fit[0]
        xs = [math.log(p[0]) for p in used]
        ys = [math.log(abs(p[1])) for p in used]
        b = sum(ys) / len(ys) - slope * sum(xs) / len(xs)
        grid = [min(p[0] for p in used), max(p[0] for p in used)]
        ax.plot(grid, [math.exp(b) * g**slope for g in grid], "C0-", alpha=0.6,
                label=f"fit: slope {slope:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for fmt in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
        fmt(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("width N")
    ax.set_ylabel(r"$|\overline{G_c^{(4)}}|$")
    ax.set_title(f"{sample['arch']}, sigma_w = {sample['sigma_w']}, sigma_b = {sample['sigma_b']} ({estimator})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)
    print(f"{FIT_ID}: {len(pts)} widths ({estimator} estimator), {len(used)} resolvable, slope "
          f"{'n/a' if slope is None else f'{slope:.4f}'}; wrote {a.out}")


if __name__ == "__main__":
    main()
