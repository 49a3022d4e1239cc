#!/usr/bin/env python3
"""Write N seeded synthetic examples in the examples.jsonl layout (the benchmarks' data).

    python3 bench/make_examples.py N OUT.jsonl [--seed 7] [--multi-turn]

The same algorithm and seed as the project's shared ``make-examples`` tool, so the output is byte-identical
(tests/bench/test_make_examples.py checks that where the shared tool is present) and figures stay comparable
from a clone that has no shared/ folder beside it. 100,000 examples are about 152 MB.
"""

from __future__ import annotations

import argparse
import json
import random

WORDS = [
    "the",
    "a",
    "customer",
    "order",
    "refund",
    "shipping",
    "account",
    "password",
    "reset",
    "invoice",
    "delivery",
    "broken",
    "screen",
    "battery",
    "warranty",
    "replace",
    "cancel",
    "subscription",
    "upgrade",
    "plan",
    "charge",
    "card",
    "email",
    "tracking",
]


def write(n: int, out: str, *, seed: int = 7, multi_turn: bool = False) -> None:
    rnd = random.Random(seed)
    with open(out, "w", encoding="utf-8") as f:
        for i in range(1, n + 1):
            msgs = [{"role": "system", "content": "You are a support agent."}]
            for _ in range(2 if multi_turn and rnd.random() < 0.3 else 1):
                msgs.append({"role": "user", "content": " ".join(rnd.choices(WORDS, k=60))})
                msgs.append({"role": "assistant", "content": " ".join(rnd.choices(WORDS, k=120))})
            rec = {
                "id": i,
                "messages": msgs,
                "rating": rnd.choice([None, 5, 7, 8, 9, 10]),
                "createdAt": "2026-01-01T00:00:00Z",
                "version": 1,
            }
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n", type=int)
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--multi-turn", action="store_true")
    a = p.parse_args()
    write(a.n, a.out, seed=a.seed, multi_turn=a.multi_turn)


if __name__ == "__main__":
    main()
