"""Soak: SOAK_SECONDS (default 120) of mixed load (the stress test's clients: single posts,
forms, NDJSON batches, score reads) on 48 keep-alive connections, with cxd's RSS sampled
every 2 s. After a warm-up, memory must stay flat, and the sanitizer build must report no
leak at exit."""
import asyncio
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402
from test_stress import client  # noqa: E402

SECONDS = float(os.environ.get("SOAK_SECONDS", "120"))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(f.read().split("VmRSS:")[1].split()[0])


class SoakTest(unittest.TestCase):
    def test_memory_stays_flat(self):
        asan = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"
        srv = Server(env={"ASAN_OPTIONS": asan}).start()
        srv.post_json("/v1/surveys", {"id": "stress", "title": "Soak"})
        acked, stats, samples = [], {}, []

        async def sample(deadline):
            while time.monotonic() < deadline:
                samples.append((time.monotonic(), rss_kb(srv.proc.pid)))
                await asyncio.sleep(2)

        async def main():
            deadline = time.monotonic() + SECONDS
            await asyncio.gather(sample(deadline), *(client(srv.port, i, deadline, acked, stats, srv.auth_line())
                                                     for i in range(48)))

        asyncio.run(asyncio.wait_for(main(), timeout=SECONDS + 300))
        self.assertEqual(set(stats) - {200, 201}, set(), stats)
        total = srv.get("/v1/surveys/stress/scores")[2]["groups"][0]["responses"]
        self.assertEqual(total, len(acked))
        warm = [kb for t, kb in samples if t >= samples[0][0] + SECONDS / 4]
        growth = max(warm) - warm[0]
        print("soak: %d requests, %d responses, RSS %d KiB after warm-up, %d KiB at most (+%d)"
              % (sum(stats.values()), total, warm[0], max(warm), growth))
        self.assertLess(growth, 24 * 1024, "RSS kept growing: %s" % [kb for _, kb in samples])
        srv.assert_clean_exit(self)   # LeakSanitizer runs at exit


if __name__ == "__main__":
    cxdtest.main("soak")
