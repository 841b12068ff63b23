"""Summarise a py-spy `--format raw` (collapsed stacks) profile: the hottest functions.

    py-spy record -f raw --threads -o prof.txt --pid PID -d 30
    python -m loadtests.pyspy_summary prof.txt [--top 25] [--match gameserver] [--thread MainThread]

Prints, per function, the share of samples in which it is on the stack (inclusive) and the
share in which it is the innermost frame (self). `--match` keeps the inclusive table to frames
whose file contains the text (e.g. the server's own package).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def parse(text: str, thread: str = "") -> tuple[Counter[str], Counter[str], int]:
    """(inclusive, self, total samples) keyed by `function (file)`; with `thread`, only the
    stacks of threads whose name contains it (profiles recorded with --threads)."""
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        if thread and not (stack.startswith("thread (") and thread in stack.split(";", 1)[0]):
            continue
        n = int(count)
        total += n
        names = []
        for frame in stack.split(";"):
            m = _FRAME.match(frame.strip())
            names.append(f"{m['func']} ({short(m['file'])})" if m else frame.strip())
        for name in set(names):
            incl[name] += n
        if names:
            self_[names[-1]] += n
    return incl, self_, total


def short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def report(text: str, top: int = 25, match: str = "gameserver", thread: str = "") -> str:
    """The summary as Markdown-ish text."""
    incl, self_, total = parse(text, thread)
    if not total and thread:
        incl, self_, total = parse(text)
    out = [f"{total} samples" + (f" (thread {thread})" if thread else ""), "", "## self (innermost frame)", ""]
    out += [f"{100 * n / total:6.1f}%  {name}" for name, n in self_.most_common(top)]
    out += ["", f"## inclusive{' (' + match + ')' if match else ''}", ""]
    rows = [(name, n) for name, n in incl.most_common() if not match or match in name][:top]
    out += [f"{100 * n / total:6.1f}%  {name}" for name, n in rows]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile", type=Path)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--match", default="")
    ap.add_argument("--thread", default="", help="only threads whose name contains this (e.g. MainThread)")
    ns = ap.parse_args()
    print(report(ns.profile.read_text(), ns.top, ns.match, ns.thread), end="")


if __name__ == "__main__":
    main()
