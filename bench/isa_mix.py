#!/usr/bin/python3
"""isa_mix.py — which vector width a program's hot code ran, from a
`perf record` profile, without symbols (libonnxruntime.so has none): each
sampled instruction in the DSOs asked for is disassembled (objdump, over the
sampled address ranges only) and counted by the widest register it names —
zmm (AVX-512), ymm (AVX / AVX2), xmm, tmm (AMX) or none. Session 20: proof
that ORT under bench/cpuid_avx2.c runs MLAS's AVX2 / FMA3 kernels (no zmm
left) where the host's CPUID makes it run the AVX-512 ones; on a VM without
a hardware PMU (no fp_arith_inst_retired counts) this is what is left.

    perf record -e cpu-clock:u -o P.data PROGRAM ...
    bench/isa_mix.py P.data [DSO_SUBSTRING ...]   # default: libonnxruntime

Prints per DSO the samples and their shares per register class, and the
five hottest 4 KB pages with their class counts. A timer sample's IP is the
instruction after the interrupt (skid of one), which in a kernel's loop is
its neighbour of the same width.
"""
import collections
import re
import subprocess
import sys

CLASSES = ("zmm", "ymm", "xmm", "tmm", "none")


def classify(text):
    for c in ("tmm", "zmm", "ymm", "xmm"):
        if "%" + c in text:
            return c
    return "none"


def samples(data, want):
    """{dso path: Counter(address in the file)} for DSOs matching want"""
    out = subprocess.run(["perf", "script", "-i", data, "-F", "ip,dso", "--show-mmap-events"],
                         capture_output=True, text=True, check=True).stdout
    # mmap events give each DSO's load address and file offset
    maps = []
    res = collections.defaultdict(collections.Counter)
    mm = re.compile(r"PERF_RECORD_MMAP2? .*\[(0x[0-9a-f]+)\((0x[0-9a-f]+)\) @ (0x[0-9a-f]+|\d+) .*\]: [r-][w-]x[ps] (\S+)")
    for line in out.splitlines():
        m = mm.search(line)
        if m:
            start, size, pgoff, path = int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 0), m.group(4)
            maps.append((start, start + size, pgoff, path))
            continue
        f = line.split()
        if len(f) < 2 or not re.fullmatch(r"[0-9a-f]+", f[0]):
            continue
        ip = int(f[0], 16)
        dso = f[1].strip("()")
        if not any(w in dso for w in want):
            continue
        for s, e, off, path in maps:
            if s <= ip < e and path == dso:
                res[dso][ip - s + off] += 1
                break
    return res


def vaddr_of(path):
    """file offset -> virtual address of the executable LOAD segments"""
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True, check=True).stdout
    segs = []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            segs.append((int(f[1], 16), int(f[2], 16), int(f[4], 16)))
    def conv(off):
        for o, va, sz in segs:
            if o <= off < o + sz:
                return off - o + va
        return off
    return conv


def disasm(path, addrs):
    """{address: instruction text} for the sampled addresses"""
    insn = {}
    pages = sorted({a & ~0xfff for a in addrs})
    # objdump over runs of adjacent pages
    runs = []
    for p in pages:
        if runs and p <= runs[-1][1]:
            runs[-1][1] = p + 0x1000
        else:
            runs.append([p, p + 0x1000])
    line_re = re.compile(r"^\s*([0-9a-f]+):\s+(.*)$")
    for a, b in runs:
        out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "--start-address=%#x" % a,
                              "--stop-address=%#x" % (b + 16), path],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = line_re.match(line)
            if m:
                insn[int(m.group(1), 16)] = m.group(2)
    return insn


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    data = sys.argv[1]
    want = sys.argv[2:] or ["libonnxruntime"]
    for dso, cnt in samples(data, want).items():
        conv = vaddr_of(dso)
        va = collections.Counter()
        for off, n in cnt.items():
            va[conv(off)] += n
        insn = disasm(dso, va)
        tot = collections.Counter()
        page = collections.defaultdict(collections.Counter)
        for a, n in va.items():
            c = classify(insn.get(a, ""))
            tot[c] += n
            page[a & ~0xfff][c] += n
        n = sum(tot.values())
        print("%s: %d samples; %s" % (dso, n, ", ".join(
            "%s %.1f%%" % (c, 100.0 * tot[c] / n) for c in CLASSES if tot[c])))
        for p, pc in sorted(page.items(), key=lambda kv: -sum(kv[1].values()))[:5]:
            print("  page %#x: %d samples (%s)" % (p, sum(pc.values()), ", ".join(
                "%s %d" % (c, pc[c]) for c in CLASSES if pc[c])))


if __name__ == "__main__":
    main()
