"""sk_variant.py — what the bench scripts share about skipserve-bench runs
(session 16): the variant words of ab.py / ab_steps.py and the line format
of `skipserve-bench --profile` (ab_steps.py, layers_vs_ort.py), so the
parsers cannot drift apart (they had: ab_steps.py took any word starting
with "sk" and resolved BUILD against the cwd).
"""
import os
import re
import shlex

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# one profiled step: ms, step index, op, strategy, GFLOP/s (optional),
# [output shape], output name
PROFILE_LINE = re.compile(r"\s+([\d.]+) ms\s+[\d.]+%\s+(\d+) (\S+)\s+(\S+)\s+"
                          r"(?:([\d.]+) GFLOP/s)?.*\[([\d,]*)\]\s+(\S+)\s*$")


def parse(spec):
    """'[NAME=VALUE ...] WHAT [ARG ...]' -> (env, WHAT, [ARG ...]); env is a
    copy of os.environ with the assignments applied; WHAT None when absent"""
    words = shlex.split(spec)
    env = dict(os.environ)
    while words and "=" in words[0]:
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    return env, (words[0] if words else None), words[1:]


def is_sk(what):
    """WHAT names skipserve-bench: 'sk' or 'sk:BINARY'"""
    return what is not None and (what == "sk" or what.startswith("sk:"))


def sk_binary(what="sk"):
    """the binary of 'sk' ($BUILD/skipserve-bench, BUILD relative to the
    repository root) or of 'sk:BINARY'"""
    return what[3:] or os.path.join(ROOT, os.environ.get("BUILD", "build"), "skipserve-bench")
