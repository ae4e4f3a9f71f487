"""Peak memory while iterating minute buckets: ``iter()`` stays flat, ``list()`` grows.

Each measurement runs in a fresh process (``python -m benchmarks.bench_memory``), which
reports its own peak RSS, so runs cannot inherit each other's memory.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys

from openai_usage_async import AsyncUsageClient

from ._emulator import NOW

KEY = "sk-admin-benchmark"
DAY = 86_400


async def consume(base_url: str, days: int, mode: str) -> int:
    async with AsyncUsageClient(KEY, base_url=base_url) as client:
        arguments = {"start_time": NOW - days * DAY, "end_time": NOW, "bucket_width": "1m"}
        if mode == "list":
            return len(await client.usage.embeddings.list(**arguments))
        n = 0
        ordered = mode == "iter"  # "as_ready": ordered=False
        async with client.usage.embeddings.iter(**arguments, ordered=ordered) as buckets:
            async for _ in buckets:
                n += 1
        return n


def peak_rss_mb(base_url: str, days: int, mode: str) -> tuple[float, int]:
    """Run one measurement in a child process: (peak RSS in MiB, buckets)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_memory", base_url, str(days), mode],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("days", type=int)
    parser.add_argument("mode", choices=("iter", "as_ready", "list"))
    args = parser.parse_args()
    buckets = asyncio.run(consume(args.base_url, args.days, args.mode))
    print(f"{peak_kib() / 1024:.1f} {buckets}")


def peak_kib() -> int:
    """This process's peak RSS in KiB.

    Linux's ``ru_maxrss`` survives ``exec``: a child forked from a big parent would report
    the parent's peak. ``VmHWM`` belongs to this program's own memory map.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    main()
