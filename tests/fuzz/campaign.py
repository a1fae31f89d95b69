"""A long fuzz campaign over every reader of outside data, counting unexpected exceptions.

    python tests/fuzz/campaign.py --inputs 100000 [--seed 0] [--only patch,map] [--json]

Inputs are spread over the readers in turn (patch, snapshot, map, image): byte edits of real
seeds, header-field and re-signed payload edits (patch, snapshot) and arbitrary bytes. Each
input must be accepted or refused with the reader's own error; anything else is counted as
unexpected (the first traceback of each kind is printed), and so is an input that takes
over --hang-s seconds.
The exit status is 1 when the unexpected count is not 0.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
import traceback
from collections import Counter

from fuzz_targets import TARGETS, mutate, mutate_header, mutate_payload  # beside this script


class Hung(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hung


def one_input(name: str, seeds: list[bytes], rng: random.Random) -> bytes:
    _, _, header_edits = TARGETS[name]
    roll = rng.random()
    if header_edits and roll < 0.3:
        return mutate_header(seeds[0], rng, rng.randint(1, 4))
    if header_edits and roll < 0.5:
        return mutate_payload(seeds[0], rng, rng.randint(1, 4))
    if roll < 0.85:
        return mutate(rng.choice(seeds), rng, rng.randint(1, 8))
    return rng.randbytes(rng.randrange(0, 2048))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", help="comma-separated readers (default: all)")
    parser.add_argument("--hang-s", type=float, default=10.0)
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else sorted(TARGETS)
    seeds = {name: TARGETS[name][1]() for name in names}
    rng = random.Random(args.seed)
    counts: dict[str, Counter] = {name: Counter() for name in names}
    seen_kinds: set[str] = set()
    signal.signal(signal.SIGALRM, _alarm)
    started = time.monotonic()
    for i in range(args.inputs):
        name = names[i % len(names)]
        data = one_input(name, seeds[name], rng)
        signal.setitimer(signal.ITIMER_REAL, args.hang_s)
        try:
            counts[name][TARGETS[name][0](data)] += 1
        except Hung:
            counts[name]["unexpected"] += 1
            print(f"[{name} #{i}] hung over {args.hang_s} s", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - counting these is the point
            counts[name]["unexpected"] += 1
            kind = f"{name}:{type(exc).__name__}"
            if kind not in seen_kinds:
                seen_kinds.add(kind)
                print(f"[{name} #{i}] unexpected {kind}", file=sys.stderr)
                traceback.print_exc()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if (i + 1) % 10_000 == 0:
            print(f"{i + 1} inputs, {time.monotonic() - started:.0f} s", file=sys.stderr)
    unexpected = sum(c["unexpected"] for c in counts.values())
    report = {
        "inputs": args.inputs,
        "seconds": round(time.monotonic() - started, 1),
        "unexpected": unexpected,
        "by_reader": {name: dict(c) for name, c in counts.items()},
    }
    if args.json:
        print(json.dumps(report))
    else:
        for name, c in counts.items():
            print(f"{name:<9} " + "  ".join(f"{k} {v}" for k, v in sorted(c.items())))
        print(f"{args.inputs} inputs in {report['seconds']} s: {unexpected} unexpected exceptions")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
