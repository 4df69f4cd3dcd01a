"""How well the photo-ID matcher ranks known snow leopards, against always answering the commonest.

    .venv/bin/python bench/reid.py                         # Hessian-affine, the default settings
    .venv/bin/python bench/reid.py --detector sift --no-root
    .venv/bin/python bench/reid.py --speed                 # also: one query vs ~2,000 boxes

Data: ../shared/reid/snow-leopard (325 survey photos of known cats; see its README). The fair
protocol: queries are single-animal photos; the catalogue holds the single-animal photos of all
other encounters (leave one encounter out, applied as the matcher's same-event exclusion);
only queries whose cat is in that catalogue count. Boxes are the annotators' pattern boxes.

Printed, each beside the commonest-cat baseline measured on the same queries: top-1 and top-5
per photo and per encounter (a burst's photos scored together), top-1 averaged over individuals,
top-1 per individual; the same again with no reference from the query's station; time per
query; the "probably new" calibration (each query again with its own cat removed). Extracted
features are cached in $REID_CACHE (default bench/out/reid/), keyed by the extraction settings,
so trying a matching variant does not recompute them.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.reid import features as feat  # noqa: E402
from tracker.reid.matcher import Reference, ReferenceIndex, Settings, rank  # noqa: E402

DATA = ROOT.parent / "shared" / "reid" / "snow-leopard"
CACHE = Path(os.environ.get("REID_CACHE", ROOT / "bench" / "out" / "reid"))


def load_labels() -> list[dict]:
    with open(DATA / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["boxes"] = json.loads(row["pattern_boxes"])
        row["cats"] = row["individuals"].split(";")
    return rows


def extract(grey, boxes, args) -> feat.BoxFeatures:
    deinterlace = None if args.deinterlace else False  # None: the 1080 frames only
    return feat.extract(grey, boxes, args.detector, deinterlace, args.max_side, args.per_box)


def features_for(rows: list[dict], args) -> tuple[dict[str, feat.BoxFeatures], list[float]]:
    """Features per photo (cached on disk), and the seconds each uncached extraction took."""
    tag = f"{args.detector}-side{args.max_side}-{'dei' if args.deinterlace else 'raw'}"
    tag += "-perbox" if args.per_box else ""
    folder = CACHE / tag
    folder.mkdir(parents=True, exist_ok=True)
    out, times = {}, []
    for row in rows:
        path = folder / f"{row['sha256']}.npz"
        if path.exists():
            out[row["file"]] = feat.BoxFeatures.from_bytes(path.read_bytes())
            continue
        grey = feat.read_grey(DATA / "images" / row["file"])
        t0 = time.perf_counter()
        f = extract(grey, row["boxes"], args)
        times.append(time.perf_counter() - t0)
        path.write_bytes(f.to_bytes())
        out[row["file"]] = f
    return out, times


def run(rows, feats, settings, group: str, drop_own_cat: bool = False):
    """One pass over the queries. `group` is the label column excluded with the query's own
    (encounter, or station for the harder figure). Returns per-query results."""
    single = [r for r in rows if len(r["cats"]) == 1]
    refs = [Reference(r["file"], r["cats"][0], feats[r["file"]], event=r[group]) for r in single]
    index = ReferenceIndex(refs, settings)
    results = []
    for q in single:
        cat = q["cats"][0]
        catalogue = Counter(r["cats"][0] for r in single if r[group] != q[group])
        if cat not in catalogue:
            continue
        t0 = time.perf_counter()
        if drop_own_cat:
            cands = rank_without(index, feats[q["file"]], q[group], cat)
        else:
            cands = rank(index, feats[q["file"]], exclude_events={q[group]})
        elapsed = time.perf_counter() - t0
        commonest = [c for c, _ in catalogue.most_common()]
        results.append(
            {
                "file": q["file"],
                "cat": cat,
                "encounter": q["encounter"],
                "ranked": [c.individual for c in cands],
                "scores": {c.individual: c.score for c in cands},
                "top_score": cands[0].score if cands else 0.0,
                "second": cands[1].score if len(cands) > 1 else 0.0,
                "commonest": commonest,
                "seconds": elapsed,
            }
        )
    return results


def rank_without(index, query, event, cat):
    """The query ranked as if its cat were not in the catalogue (for "probably new")."""
    excluded = {r.event for r in index.references if r.individual == cat} | {event}
    return rank(index, query, exclude_events=excluded)


def _hit(ranked: list[str], cat: str, k: int) -> bool:
    return cat in ranked[:k]


def summary(results: list[dict]) -> dict:
    by_cat = defaultdict(list)
    by_enc = defaultdict(list)
    for r in results:
        by_cat[r["cat"]].append(r)
        by_enc[r["encounter"]].append(r)
    out = {"queries": len(results), "encounters": len(by_enc)}
    for name, key in (("matcher", "ranked"), ("commonest", "commonest")):
        out[f"{name}_top1_photo"] = np.mean([_hit(r[key], r["cat"], 1) for r in results])
        out[f"{name}_top5_photo"] = np.mean([_hit(r[key], r["cat"], 5) for r in results])
        out[f"{name}_top1_by_cat"] = {
            c: float(np.mean([_hit(r[key], c, 1) for r in rs])) for c, rs in by_cat.items()
        }
        out[f"{name}_top1_mean_cats"] = np.mean(list(out[f"{name}_top1_by_cat"].values()))
    # Per encounter: the burst's scores added up; the commonest baseline is the same per photo.
    enc1 = enc5 = base1 = base5 = 0
    pooled = defaultdict(list)  # per cat: each photo answered with its burst's summed scores
    for rs in by_enc.values():
        total = Counter()
        for r in rs:
            total.update(r["scores"])
        ranked = [c for c, _ in total.most_common()]
        cat = rs[0]["cat"]
        enc1 += _hit(ranked, cat, 1)
        pooled[cat] += [_hit(ranked, cat, 1)] * len(rs)
        enc5 += _hit(ranked, cat, 5)
        base1 += _hit(rs[0]["commonest"], cat, 1)
        base5 += _hit(rs[0]["commonest"], cat, 5)
    n = len(by_enc)
    out |= {
        "matcher_top1_encounter": enc1 / n,
        "matcher_top5_encounter": enc5 / n,
        "commonest_top1_encounter": base1 / n,
        "commonest_top5_encounter": base5 / n,
        "matcher_top1_pooled_mean_cats": np.mean([np.mean(v) for v in pooled.values()]),
        "commonest_top1_pooled_mean_cats": out["commonest_top1_mean_cats"],
    }
    secs = [r["seconds"] for r in results]
    out["query_median_s"] = statistics.median(secs)
    out["query_max_s"] = max(secs)
    return out


def show(title: str, s: dict) -> None:
    print(f"\n== {title}: {s['queries']} queries, {s['encounters']} encounters")
    for label, key in (
        ("top-1 per photo", "top1_photo"),
        ("top-5 per photo", "top5_photo"),
        ("top-1 per encounter", "top1_encounter"),
        ("top-5 per encounter", "top5_encounter"),
        ("top-1 averaged over individuals", "top1_mean_cats"),
        ("  the same, a burst as one query", "top1_pooled_mean_cats"),
    ):
        m, b = s[f"matcher_{key}"], s[f"commonest_{key}"]
        print(f"  {label:34s} matcher {m:.3f}  commonest {b:.3f}  = {m / max(b, 1e-9):.2f}x")
    cats = ", ".join(
        f"{c} {v:.2f}/{s['commonest_top1_by_cat'][c]:.2f}"
        for c, v in sorted(s["matcher_top1_by_cat"].items())
    )
    print(f"  top-1 per individual (matcher/commonest): {cats}")
    print(f"  time per query: median {s['query_median_s']:.3f} s, max {s['query_max_s']:.3f} s")


def calibrate(present: list[dict], absent: list[dict]) -> None:
    """Thresholds on the top score: correct matches kept against absent cats rejected."""
    right = sorted(r["top_score"] for r in present if r["ranked"][:1] == [r["cat"]])
    gone = np.array([r["top_score"] for r in absent])
    print(f"\n== probably new: {len(right)} correct top-1 matches, {len(gone)} absent-cat queries")
    for keep in (0.9, 0.75, 0.5):
        t = right[int((1 - keep) * len(right))] if right else 0.0
        print(
            f"  threshold {t:7.3f}: keeps {keep:.0%} of correct matches, "
            f"says 'probably new' for {np.mean(gone < t):.0%} of absent cats"
        )


def speed(rows, feats, settings, copies: int) -> None:
    """One query against ~2,000 reference boxes: the set's boxes repeated as distinct cats."""
    single = [r for r in rows if len(r["cats"]) == 1]
    refs = [
        Reference((i, r["file"]), f"{r['cats'][0]}-{i}", feats[r["file"]], event=(i, r["file"]))
        for i in range(copies)
        for r in single
    ]
    t0 = time.perf_counter()
    index = ReferenceIndex(refs, settings)
    build = time.perf_counter() - t0
    queries = single[:: max(1, len(single) // 40)]
    rank(index, feats[queries[0]["file"]])
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    secs = []
    for q in queries:
        t0 = time.perf_counter()
        rank(index, feats[q["file"]])
        secs.append(time.perf_counter() - t0)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    descs = sum(len(r.features) for r in refs)
    print(
        f"\n== speed: {len(refs)} reference boxes ({descs:,} descriptors), index built in "
        f"{build:.1f} s; {len(queries)} queries: median {statistics.median(secs):.3f} s, "
        f"max {max(secs):.3f} s; peak RSS {rss0 / 1024:.0f} -> {rss1 / 1024:.0f} MB"
    )


def time_features(rows, args, count: int) -> None:
    """Extraction timed again on `count` photos, cache or not: wall and CPU seconds per box
    (CPU is the steadier figure on a machine shared with other work)."""
    wall, cpu = [], []
    for row in rows[:: max(1, len(rows) // count)][:count]:
        grey = feat.read_grey(DATA / "images" / row["file"])
        w0, c0 = time.perf_counter(), time.process_time()
        extract(grey, row["boxes"], args)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    print(
        f"features per box ({len(wall)} boxes): wall median {statistics.median(wall):.3f} s, "
        f"max {max(wall):.3f} s; CPU median {statistics.median(cpu):.3f} s, max {max(cpu):.3f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector", choices=feat.DETECTORS, default="hesaff")
    ap.add_argument("--max-side", type=int, default=feat.MAX_SIDE)
    ap.add_argument("--deinterlace", action="store_true", help="one field of 1080 frames")
    ap.add_argument("--per-box", action="store_true", help="describe each pattern box alone")
    ap.add_argument("--no-root", dest="root", action="store_false")
    ap.add_argument("--k", type=int, default=Settings.k)
    ap.add_argument("--shortlist", type=int, default=Settings.shortlist)
    ap.add_argument("--per-individual", type=int, default=Settings.per_individual)
    ap.add_argument("--xy", type=float, default=Settings.sv_xy)
    ap.add_argument("--checks", type=int, default=Settings.checks)
    ap.add_argument("--no-calibrate", action="store_true", help="skip the probably-new figure")
    ap.add_argument("--speed", action="store_true", help="also time ~2,000 reference boxes")
    ap.add_argument("--no-station", action="store_true", help="skip the no-station figure")
    ap.add_argument(
        "--time-features",
        type=int,
        default=0,
        metavar="N",
        help="time the extraction again on N photos",
    )
    args = ap.parse_args()
    settings = Settings(
        k=args.k,
        root=args.root,
        shortlist=args.shortlist,
        per_individual=args.per_individual,
        sv_xy=args.xy,
        checks=args.checks,
    )
    rows = load_labels()
    t0 = time.perf_counter()
    feats, times = features_for(rows, args)
    print(f"variant: {vars(args)}")
    print(
        f"features: {len(feats)} photos in {time.perf_counter() - t0:.1f} s"
        + (
            f"; per box median {statistics.median(times):.3f} s, max {max(times):.3f} s "
            f"({len(times)} extracted now)"
            if times
            else " (all cached)"
        )
        + f"; keypoints per box median {statistics.median(len(f) for f in feats.values()):.0f}"
    )
    if args.time_features:
        time_features(rows, args, args.time_features)
    present = run(rows, feats, settings, "encounter")
    show("leave one encounter out", summary(present))
    if not args.no_station:
        show(
            "no reference from the query's station", summary(run(rows, feats, settings, "station"))
        )
    if not args.no_calibrate:
        calibrate(present, run(rows, feats, settings, "encounter", drop_own_cat=True))
    if args.speed:
        speed(rows, feats, settings, copies=7)


if __name__ == "__main__":
    main()
