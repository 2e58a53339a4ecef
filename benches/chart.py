#!/usr/bin/env python3
"""Draws the suite's latency chart: send->delivery percentiles against offered load.

    python3 benches/chart.py INPUT.json OUTPUT.svg

INPUT is what benches/suite.sh collects from the open-loop `chatload relay --rate R` runs:

    {"title": "...", "subtitle": "...",
     "runs": [{"target": "MariaDB", "rate": 5000, "achieved": 4999.8,
               "p50_us": 900, "p99_us": 4000, "p999_us": 9000, "lost": 0}, ...]}

One colour per target (MariaDB, SQLite, floor), one dash style per percentile (p50 solid,
p99 dashed, p99.9 dotted). Both axes are logarithmic: offered msg/s and latency in ms.
Python standard library only; the SVG is self-contained.
"""

import json
import math
import sys
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 880, 540
LEFT, RIGHT, TOP, BOTTOM = 80, 200, 60, 70
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
PERCENTILES = [("p50_us", "p50", ""), ("p99_us", "p99", "8 5"), ("p999_us", "p99.9", "2 4")]


def nice_ticks(lo, hi):
    """Powers of ten times 1, 2, 5 between lo and hi (both > 0)."""
    ticks = []
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 10:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo <= v <= hi:
                ticks.append(v)
        e += 1
    return ticks


def fmt(v):
    if v >= 1000 and v % 1000 == 0:
        return f"{v // 1000:g}k"
    return f"{v:g}"


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        data = json.load(f)
    runs = [r for r in data.get("runs", []) if r.get("rate") and r.get("p50_us")]
    out = []
    add = out.append
    add(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">')
    add(f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>')
    add(f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="16">'
        f'{escape(data.get("title", "send→delivery latency vs offered load"))}</text>')
    if data.get("subtitle"):
        add(f'<text x="{WIDTH / 2}" y="42" text-anchor="middle" fill="#555">'
            f'{escape(data["subtitle"])}</text>')
    if not runs:
        add(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data</text></svg>')
        with open(sys.argv[2], "w", encoding="utf-8") as f:
            f.write("\n".join(out))
        return 0

    xs = [r["rate"] for r in runs]
    ys = [r[k] / 1000 for r in runs for k, _, _ in PERCENTILES if r.get(k)]
    x_lo, x_hi = min(xs) / 1.3, max(xs) * 1.3
    y_lo, y_hi = max(min(ys) / 2, 0.01), max(ys) * 2
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x):
        return LEFT + (math.log10(x) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo)) * pw

    def py(y):
        y = max(y, y_lo)
        return TOP + ph - (math.log10(y) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo)) * ph

    add(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    for t in sorted(set(xs)):  # the offered rates themselves
        x = px(t)
        add(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + ph}" stroke="#eee"/>')
        add(f'<text x="{x:.1f}" y="{TOP + ph + 18}" text-anchor="middle">{fmt(t)}</text>')
    for t in nice_ticks(y_lo, y_hi):
        y = py(t)
        add(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + pw}" y2="{y:.1f}" stroke="#eee"/>')
        add(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(t)}</text>')
    add(f'<text x="{LEFT + pw / 2}" y="{HEIGHT - 22}" text-anchor="middle">'
        f'offered load, msg/s (log scale)</text>')
    add(f'<text x="18" y="{TOP + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 18 {TOP + ph / 2})">send→delivery latency, ms (log scale)</text>')

    targets = []
    for r in runs:
        if r["target"] not in targets:
            targets.append(r["target"])
    legend_y = TOP + 10
    for ti, target in enumerate(targets):
        colour = COLOURS[ti % len(COLOURS)]
        pts = sorted((r for r in runs if r["target"] == target), key=lambda r: r["rate"])
        for key, label, dash in PERCENTILES:
            line = [(px(r["rate"]), py(r[key] / 1000)) for r in pts if r.get(key)]
            if not line:
                continue
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in line)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            add(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}/>')
            for (x, y), r in zip(line, pts):
                tip = (f'{target} {label} at {r["rate"]:g} msg/s offered: '
                       f'{r[key] / 1000:.2f} ms (achieved {r.get("achieved", 0):.0f} msg/s)')
                add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                    f'<title>{escape(tip)}</title></circle>')
            lx = LEFT + pw + 16
            add(f'<line x1="{lx}" y1="{legend_y}" x2="{lx + 30}" y2="{legend_y}" '
                f'stroke="{colour}" stroke-width="2"{dash_attr}/>')
            add(f'<text x="{lx + 36}" y="{legend_y + 4}">{escape(target)} {label}</text>')
            legend_y += 18
        legend_y += 8
    add("</svg>")
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
