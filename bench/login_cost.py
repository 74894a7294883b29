"""What a login costs: argon2id verification with the parameters auth uses, on this machine.

Run: `python3 -m uv run python bench/login_cost.py`. Prints the parameters and the median
and p95 of hashing and verifying, one at a time and with both cores busy (2 concurrent), so
the numbers say how many logins per second one auth replica can take.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher

ROUNDS = 30


def _time(fn, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"p50 {statistics.median(ordered):6.1f} ms   p95 {ordered[int(len(ordered) * 0.95) - 1]:6.1f} ms"


def main() -> None:
    hasher = PasswordHasher()  # auth's parameters: the argon2-cffi defaults (RFC 9106 low-memory)
    stored = hasher.hash("SecurePass123!")
    print(f"argon2id time_cost={hasher.time_cost} memory_cost={hasher.memory_cost} KiB "
          f"parallelism={hasher.parallelism}")
    print(f"hash    (register)  {_summary(_time(lambda: hasher.hash('SecurePass123!'), ROUNDS))}")
    print(f"verify  (login)     {_summary(_time(lambda: hasher.verify(stored, 'SecurePass123!'), ROUNDS))}")
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda _: hasher.verify(stored, "SecurePass123!"), range(ROUNDS)))
    rate = ROUNDS / (time.perf_counter() - start)
    print(f"verify throughput with 2 threads: {rate:.1f} logins/s")


if __name__ == "__main__":
    main()
