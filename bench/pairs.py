"""More alternating (bare Faust, one worker) runs, for a worker/Faust ratio that holds.

Both figures drift together with the machine's other load, so each pair's ratio is
fairer than either rate, and the median of a few pairs is what the table reports.
The first pair is the `faust` and `worker` measurements themselves.
"""

from __future__ import annotations

from bench import faust_baseline, worker_throughput
from bench.harness import Context, log
from bench.report import Outcome


def run(ctx: Context) -> Outcome:
    outcome = Outcome("pairs")
    ratios: list[float] = []
    if ctx.shared.get("worker_rate") and ctx.shared.get("faust_rate"):
        ratios.append(ctx.shared["worker_rate"] / ctx.shared["faust_rate"])
    first = {key: ctx.shared.get(key) for key in ("worker_rate", "faust_rate", "worker_memory")}
    rates: list[dict[str, float]] = []
    for index in range(1, ctx.sizes.ratio_pairs):
        faust = faust_baseline.run(ctx)
        worker = worker_throughput.run_single(ctx)
        if faust.error or worker.error:
            break
        rates.append({"faust": ctx.shared["faust_rate"], "worker": ctx.shared["worker_rate"]})
        ratios.append(ctx.shared["worker_rate"] / ctx.shared["faust_rate"])
        log(f"pairs: pair {index + 1}: {100 * ratios[-1]:.0f} %")
    ctx.shared.update({key: value for key, value in first.items() if value is not None})
    ctx.shared["worker_vs_faust_ratios"] = ratios
    outcome.details = {"ratios": ratios, "extra_pairs": rates}
    return outcome
