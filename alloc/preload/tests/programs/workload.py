# Allocation workload for the preload tests: builds and frees a few hundred MB of
# dicts, lists and strings on 4 threads, hands half of each batch to another thread to
# free (cross-thread frees), and prints a checksum that does not depend on scheduling.
#
#   python3 workload.py ROUNDS READY_FILE
#
# Prints "ready" to READY_FILE once memory is held, waits for READY_FILE.go to exist
# (the test reads the segment meanwhile), then finishes and prints "checksum N".
import os
import queue
import sys
import threading
import time
import zlib

ROUNDS = int(sys.argv[1])
READY = sys.argv[2]
THREADS = 4
handoff = queue.Queue()
sums = [0] * THREADS


def build(tid, r):
    d = {}
    for i in range(20000):
        key = "k%d-%d-%d" % (tid, r, i)
        d[key] = [key * (1 + i % 7), i, str(i * r)]
    return d


def digest(d):
    h = 0
    for k, v in d.items():
        h = zlib.crc32(v[0].encode(), h) ^ v[1]
    return h


def worker(tid):
    total = 0
    for r in range(ROUNDS):
        d = build(tid, r)
        total = (total + digest(d)) % (1 << 61)
        handoff.put(d)  # freed by whichever thread takes it
        other = handoff.get()
        del other
    sums[tid] = total


held = [build(99, r) for r in range(8)]  # memory held while the test looks
with open(READY, "w") as f:
    f.write("ready\n")
deadline = time.time() + (0 if os.environ.get("NO_WAIT") else 60)
while not os.path.exists(READY + ".go") and time.time() < deadline:
    time.sleep(0.02)

threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
big = ["x" * 1000 + str(i) for i in range(100000)]  # ~100 MB of strings
total = sum(sums) + sum(len(s) for s in big) + sum(digest(d) for d in held)
del big, held
print("checksum %d" % (total % (1 << 61)))
