# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark's arithmetic: the figures the README publishes are what the stored results say.

bench/run.py is loaded from its path (it is a script, not part of the collection)."""
import json
import math
import os
import random
import statistics

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RESULTS = os.path.join(ROOT, "bench", "results")


@pytest.fixture(scope="module")
def bench(bench_script):
    return bench_script("run")


def load(name):
    with open(os.path.join(RESULTS, name)) as handle:
        return json.load(handle)


def exact_coverage(k, j):
    """P(the j-th smallest <= median <= the j-th largest of k independent draws)."""
    return 1 - 2 * sum(math.comb(k, i) for i in range(j)) / 2.0 ** k


@pytest.mark.parametrize("k", range(5, 41))
def test_pair_study_takes_the_narrowest_order_statistics_with_90_percent(bench, k):
    rng = random.Random(k)
    lo, hi = 10, 3000
    pairs = []
    for dummy in range(k):
        base = 8 + rng.random()
        pairs.append({str(lo): {"rc": 0, "seconds": base},
                      str(hi): {"rc": 0, "seconds": base + 0.5 + rng.random()}})
    study = bench.pair_study({"lo": lo, "hi": hi, "pairs": pairs,
                              "lower": {str(lo): [0.04, 0.05, 0.03], str(hi): [0.5, 0.45, 0.55]}})
    slopes = sorted((p[str(hi)]["seconds"] - p[str(lo)]["seconds"]) / (hi - lo) for p in pairs)
    widest_ok = [j for j in range(1, k // 2 + 1) if exact_coverage(k, j) >= 0.9]
    j = max(widest_ok)
    assert study["pairs"] == k
    assert study["coverage"] == round(exact_coverage(k, j), 3) >= 0.9
    assert study["interval_ms"] == [round(slopes[j - 1] * 1000, 3), round(slopes[k - j] * 1000, 3)]
    assert study["median_ms"] == round(statistics.median(slopes) * 1000, 3)
    assert study["lower_ms"] == round((0.5 - 0.04) / (hi - lo) * 1000, 3)


def test_pair_study_leaves_out_failed_runs(bench):
    pairs = [{"10": {"rc": 0, "seconds": 8.0}, "3000": {"rc": 0, "seconds": 9.0 + i / 10.0}} for i in range(6)]
    pairs.append({"10": {"rc": 0, "seconds": 8.0}, "3000": {"rc": 2, "seconds": 99.0}})
    study = bench.pair_study({"lo": 10, "hi": 3000, "pairs": pairs, "lower": {"10": [0.04], "3000": [0.5]}})
    assert study["pairs"] == 6 and study["interval_ms"][1] < 1.0


def test_pair_study_takes_the_lower_bound_measured_within_each_pair(bench):
    """Pairs that carry their own lower-bound runs are compared with those (same load), not with
    the separate lower-bound runs; the ratio is the median slope over the median lower slope."""
    lower_slopes = [0.1, 0.2, 0.3, 0.4, 0.9]
    pairs = [{"10": {"rc": 0, "seconds": 8.0, "lower": 0.05},
              "3000": {"rc": 0, "seconds": 8.0 + 2990 * (i + 1) * 0.0002, "lower": 0.05 + 2.99 * lower}}
             for i, lower in enumerate(lower_slopes)]
    study = bench.pair_study({"lo": 10, "hi": 3000, "pairs": pairs, "lower": {"10": [0.01], "3000": [9.0]}})
    assert study["lower_within_pairs"] is True
    assert study["lower_ms"] == pytest.approx(0.3 / 1000 * 1000, abs=1e-3)
    assert study["median_ms"] == pytest.approx(0.6, abs=1e-3)
    assert study["ratio"] == 2.0 and study["met"]
    mixed = pairs[:4] + [{"10": {"rc": 0, "seconds": 8.0}, "3000": {"rc": 0, "seconds": 9.0}}]
    assert bench.pair_study({"lo": 10, "hi": 3000, "pairs": mixed,
                             "lower": {"10": [0.01], "3000": [9.0]}})["lower_within_pairs"] is False


def test_slope_is_the_least_squares_slope(bench):
    rng = random.Random(7)
    points = [(n, 8 + n * 0.0003 + rng.gauss(0, 0.2)) for n in (10, 100, 1000) for dummy in range(5)]
    expected = statistics.linear_regression([n for n, s in points], [s for n, s in points]).slope
    assert bench.slope(points) == pytest.approx(expected, rel=1e-12)
    assert bench.slope([(10, 1.0)]) is None and bench.slope([(10, 1.0), (10, 2.0)]) is None
    on_a_line, error = bench.slope_interval([(n, 2 + n * 0.001) for n in (10, 100, 1000, 10, 1000)])
    assert on_a_line == pytest.approx(0.001) and error == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("main, pairs, expected", [
    # the README's run: slope pairs (lower bound within each pair) in the same run, naive reused
    ("2026-12-01T081401.json", None,
     {"speedup": 50.4, "slope": (0.52, 0.211, 2.5), "pairs": (0.55, 0.226, 2.4, [0.45, 0.61], 0.93), "warm": 1.06,
      "procs": [22, 22, 22]}),
    # the seventh run: naive and slope pairs in the same run
    ("2026-11-30T050038.json", None,
     {"speedup": 93.1, "slope": (0.19, 0.198, 0.9), "pairs": (0.33, 0.145, 2.3, [0.28, 0.35], 0.923), "warm": 1.01}),
    # the sixth round (bench/README), slope pairs from a separate run
    ("2026-11-28T155440.json", "2026-11-28T161028-no-naive.json",
     {"speedup": 86.0, "slope": (0.83, 0.278, 3.0), "pairs": (0.61, 0.324, 1.9, [0.51, 0.69], 0.923), "warm": 0.99}),
])
def test_published_figures_are_what_the_stored_results_say(bench, main, pairs, expected):
    data = load(main)
    if pairs:
        data["slope_pairs"] = load(pairs)["slope_pairs"]
    rows, targets = bench.analyse(data)
    assert all(t["met"] for t in targets.values())
    assert round(targets["cold_vs_naive"]["speedup"], 1) == expected["speedup"]
    ours, lower, ratio = expected["slope"]
    assert (round(targets["slope"]["ours_ms_per_ns"], 2), targets["slope"]["lower_ms_per_ns"],
            targets["slope"]["ratio"]) == (ours, lower, ratio)
    median, lower, ratio, interval, coverage = expected["pairs"]
    study = targets["slope_pairs"]
    assert (round(study["median_ms"], 2), study["lower_ms"], study["ratio"]) == (median, lower, ratio)
    assert [round(v, 2) for v in study["interval_ms"]] == interval and study["coverage"] == coverage
    assert study["robust"]  # the whole interval below 3x the lower bound
    assert round(targets["warm_flat"]["ratio"], 2) == expected["warm"]
    assert targets["procs_flat"]["router01"]["cold"] == expected.get("procs", [15, 15, 15])


def newest_run():
    """The newest full converge run (a `--no-naive` run writes no table; failover-*.json are
    bench/failover.py's)."""
    return max(name for name in os.listdir(RESULTS)
               if name.endswith(".json") and name[:1].isdigit() and "no-naive" not in name)


def test_readme_table_is_the_rendered_newest_run(bench):
    """latest.md and the README's table are the newest run as `bench/run.py --render` writes it."""
    data = load(newest_run())
    rendered = bench.markdown(data, *bench.analyse(data))
    with open(os.path.join(RESULTS, "latest.md")) as handle:
        assert handle.read() == rendered
    with open(os.path.join(ROOT, "README.md")) as handle:
        readme = handle.read()
    rows = [line for line in rendered.splitlines() if line.startswith(("|", "- N=", "Machine:"))]
    assert len(rows) >= 13  # machine line, 3 sizes, 5 targets, two table headers (extras add lines)
    missing = [line for line in rows if line not in readme.splitlines()]
    assert not missing, missing
