# bench/support/objects.py: the loops of bench/objects.lua in Python's
# ctypes, run by it (not a bench itself).
#   python3 objects.py <objects_binding.so> [--rows a,b] [--scale x] [--runs n]
#     prints "<row> <seconds> <n>" per row (best of the runs, net of the
#     same loop doing nothing, or of filling the array for qsort) and
#     "bytes <B per c_int object>"
#   python3 objects.py <objects_binding.so> --child <row> <run|base> <n>
#     runs one loop (for callgrind)
import ctypes
import os
import sys
import time
import tracemalloc

so = sys.argv[1]
opts = {"--rows": "field,array,new,pointer,qsort,lib", "--scale": "1", "--runs": "7"}
child = None
args = sys.argv[2:]
while args:
    if args[0] == "--child":
        child = (args[1], args[2], int(args[3]))
        args = args[4:]
    else:
        opts[args[0]] = args[1]
        args = args[2:]

c_int, c_size_t, c_void_p = ctypes.c_int, ctypes.c_size_t, ctypes.c_void_p
pointer = ctypes.pointer
# RTLD_LAZY: the module's Lua API references stay unresolved (never called)
lib = ctypes.CDLL(so, mode=os.RTLD_LAZY)
libc = ctypes.CDLL(None)
lib.bench_add_i.argtypes = [c_int, c_int]
lib.bench_add_i.restype = c_int
lib.bench_fill.argtypes = [c_void_p, c_int]
lib.bench_fill.restype = None
lib.bench_sorted.argtypes = [c_void_p, c_int]
lib.bench_sorted.restype = c_int


class S(ctypes.Structure):
    _fields_ = [("x", c_int), ("y", c_int)]


NA, NQ = 1000000, 100000
s = S()
a = (c_int * NA)()
q = (c_int * NQ)()
P = ctypes.POINTER(c_int)
CMP = ctypes.CFUNCTYPE(c_int, P, P)
qsort = libc.qsort
qsort.argtypes = [c_void_p, c_size_t, c_size_t, CMP]
qsort.restype = None
cmp = CMP(lambda x, y: x[0] - y[0])


def loop(n):
    for _ in range(n):
        pass


def loop2(n):
    for _ in range(n):
        pass
    for _ in range(n):
        pass


def field(n):
    o = s
    for _ in range(n):
        o.x = o.x + 1


def array(n):
    b, t = a, 0
    for i in range(n):
        b[i] = i
    for i in range(n):
        t = t + b[i]
    return t


def new(n):
    T = c_int
    o = None
    for i in range(n):
        o = T(i)
    return o


def ptr(n):
    P, x, o = pointer, c_int(5), None
    for _ in range(n):
        o = P(x)
    return o


def fill(n):
    lib.bench_fill(q, n)


def sort(n):
    lib.bench_fill(q, n)
    qsort(q, n, 4, cmp)


def call(n):
    t = 0
    for i in range(n):
        t = lib.bench_add_i(i, 1)
    return t


ROWS = {
    "field": (field, loop, 2000000),
    "array": (array, loop2, NA),
    "new": (new, loop, 1000000),
    "pointer": (ptr, loop, 1000000),
    "qsort": (sort, fill, NQ),
    "lib": (call, loop, 2000000),
}

if child:
    run, base, _ = ROWS[child[0]]
    (run if child[1] == "run" else base)(child[2])
    sys.exit(0)

sort(NQ)
assert lib.bench_sorted(q, NQ) == 1

scale, runs = float(opts["--scale"]), int(opts["--runs"])
for name in opts["--rows"].split(","):
    if name not in ROWS:
        continue
    run, base, n = ROWS[name]
    n = max(1, int(n * scale))
    if name == "array":
        n = min(n, NA)
    if name == "qsort":
        n = min(n, NQ)
    best_run = best_base = float("inf")
    for _ in range(runs):
        t0 = time.process_time()
        run(n)
        t1 = time.process_time()
        base(n)
        t2 = time.process_time()
        best_run = min(best_run, t1 - t0)
        best_base = min(best_base, t2 - t1)
    print("%s %.9f %d" % (name, best_run - best_base, n))

K = 100000
keep = [None] * K
tracemalloc.start()
before = tracemalloc.get_traced_memory()[0]
for i in range(K):
    keep[i] = c_int(i)
after = tracemalloc.get_traced_memory()[0]
tracemalloc.stop()
print("bytes %.1f" % ((after - before) / K))
