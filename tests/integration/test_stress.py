"""Concurrency stress: many keep-alive connections mixing single posts, forms, NDJSON
batches and score reads, then a clean shutdown. Every 201 must be stored exactly once, and
the binary (built with ASan, or with TSan by test.sh) must report nothing.

Bounded: STRESS_SECONDS (default 4) of load, at most STRESS_CONNS (default 96) connections.
"""
import asyncio
import json
import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402
from test_api import random_response  # noqa: E402
from test_loop_hostile import RaceTest as LoopRaceTest  # noqa: E402,F401  issue 12's threads, under TSan too

SECONDS = float(os.environ.get("STRESS_SECONDS", "4"))
CONNS = int(os.environ.get("STRESS_CONNS", "96"))


async def client(port, seed, deadline, acked, stats, auth):
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < deadline:
            kind = rng.random()
            if kind < 0.70:
                body = json.dumps(random_response(rng, "stress")).encode()
                head = b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                n = 1
            elif kind < 0.80:
                items = [random_response(rng, "stress") for _ in range(rng.randint(1, 200))]
                body = ("\n".join(json.dumps(i) for i in items)).encode()
                head = b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                n = len(items)
            elif kind < 0.85:
                body = b"survey=stress&stage=purchase&touchpoint=web&nps=7"
                head = (b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
                        b"Content-Type: application/x-www-form-urlencoded\r\n")
                n = 1
            else:
                body = b""
                head = b"GET /v1/surveys/stress/scores?by=stage,week HTTP/1.1\r\nHost: x\r\n"
                n = 0
            writer.write(head + auth + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            status_line = await reader.readline()
            status = int(status_line.split()[1])
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            payload = json.loads(await reader.readexactly(length)) if length else None
            stats[status] = stats.get(status, 0) + 1
            if status == 201 and n:
                acked.extend(payload["ids"] if "ids" in payload else [payload["id"]])
    finally:
        writer.close()


class StressTest(unittest.TestCase):
    def test_mixed_load(self):
        srv = Server(args=["--threads", "2", "--per-ip-connections", "0"]).start()   # all from 127.0.0.1
        srv.post_json("/v1/surveys", {"id": "stress", "title": "Stress"})
        acked, stats = [], {}

        async def main():
            deadline = time.monotonic() + SECONDS
            await asyncio.gather(*(client(srv.port, i, deadline, acked, stats, srv.auth_line()) for i in range(CONNS)))

        asyncio.run(asyncio.wait_for(main(), timeout=SECONDS + 120))
        self.assertEqual(set(stats) - {200, 201}, set(), stats)
        self.assertEqual(len(acked), len(set(acked)))
        total = srv.get("/v1/surveys/stress/scores")[2]["groups"][0]["responses"]
        self.assertEqual(total, len(acked))
        srv.assert_clean_exit(self)
        print("stress: %d requests, %d responses stored, statuses %s" % (sum(stats.values()), total, stats))


if __name__ == "__main__":
    cxdtest.main("stress")
