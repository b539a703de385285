#!/usr/bin/env python3
"""Whole-process benchmark of kaiwa against the test mock, from a pseudo-terminal.

    python3 scripts/bench-stream.py [--tokens 20000] [--runs 3] [--cols 120] [--rows 40]

Builds the release binary and the mock (`cargo build --release --examples`),
starts the mock answering every request with TOKENS tokens, one per SSE chunk,
then for each run:

- curl reads the same stream (the ceiling);
- kaiwa starts in a fresh pseudo-terminal (COLSxROWS) with a fresh HOME; the
  first frame is the time from fork to the first output that holds the
  status bar; then "go" + Enter, and the answer time is from the Enter to the
  status bar showing every token counted; Ctrl+Q; the process's CPU time
  (user + system) and peak RSS come from wait4.

Prints each figure's median (and min–max) and the ratio of kaiwa's answer
time to curl's. Standard library only (pty, os, resource); Linux or macOS.
"""

import argparse
import json
import os
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

try:
    import fcntl
    import termios
except ImportError:  # pragma: no cover - not a Unix
    sys.exit("bench-stream.py needs a Unix pseudo-terminal")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KAIWA = os.path.join(ROOT, "target", "release", "kaiwa")
MOCK = os.path.join(ROOT, "target", "release", "examples", "mock_server")


def start_mock(tokens):
    mock = subprocess.Popen(
        [MOCK, "--port", "0", "--delay-ms", "0", "--answer-tokens", str(tokens),
         "--models", "gpt-4o-mini"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = mock.stdout.readline().strip()
    if not line.startswith("base_url="):
        mock.kill()
        sys.exit(f"the mock did not start: {line!r}")
    return mock, line.split("=", 1)[1]


def curl_seconds(base_url):
    body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                       "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": "go"}]})
    started = time.perf_counter()
    subprocess.run(
        ["curl", "-sN", "-o", os.devnull, "-H", "content-type: application/json",
         "-H", "authorization: Bearer sk-bench", "-d", body, f"{base_url}/chat/completions"],
        check=True,
    )
    return time.perf_counter() - started


def read_until(fd, needle, deadline, seen):
    """Reads the pty into `seen` until `needle` (bytes) is in it; the time it was."""
    while needle not in seen:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError(needle.decode(errors="replace"))
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                raise TimeoutError("kaiwa ended") from None
            if not chunk:
                raise TimeoutError("kaiwa ended")
            seen.extend(chunk)
            # Keep the tail only: the needle is short.
            if len(seen) > 1 << 20:
                del seen[: len(seen) - 4096]
    return time.perf_counter()


def kaiwa_run(base_url, tokens, cols, rows):
    home = tempfile.mkdtemp(prefix="kaiwa-bench-")
    env = {
        "HOME": home,
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "XDG_STATE_HOME": os.path.join(home, ".local/state"),
        "XDG_DATA_HOME": os.path.join(home, ".local/share"),
        "PATH": os.environ.get("PATH", ""),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": "sk-bench",
    }
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execve(KAIWA, [KAIWA], env)
    seen = bytearray()
    try:
        first = read_until(fd, b"prompt 0 \xc2\xb7 completion 0", started + 10, seen)
        seen.clear()
        os.write(fd, b"go\r")
        sent = time.perf_counter()
        done = read_until(fd, f"completion {tokens} ".encode(), sent + 120, seen)
        os.write(fd, b"\x11")  # Ctrl+Q
    except TimeoutError as why:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.exit(f"kaiwa did not show {why}")
    while True:  # drain until it exits, so wait4 sees it whole
        try:
            if not os.read(fd, 1 << 16):
                break
        except OSError:
            break
    _, _, usage = os.wait4(pid, 0)
    os.close(fd)
    shutil.rmtree(home, ignore_errors=True)
    peak_kib = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss / 1024
    return {
        "first frame ms": (first - started) * 1000,
        "answer s": done - sent,
        "cpu s": usage.ru_utime + usage.ru_stime,
        "peak RSS MiB": peak_kib / 1024,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cols", type=int, default=120)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--examples", "--quiet"], cwd=ROOT,
                       check=True)
    mock, base_url = start_mock(args.tokens)
    try:
        curl_seconds(base_url)  # warm-up
        runs = []
        for _ in range(args.runs):
            curl = curl_seconds(base_url)
            run = kaiwa_run(base_url, args.tokens, args.cols, args.rows)
            run["curl s"] = curl
            run["× curl"] = run["answer s"] / curl
            runs.append(run)
    finally:
        mock.terminate()
        mock.wait()
    print(f"{args.tokens} tokens, one per chunk, {args.cols}x{args.rows}, {args.runs} runs "
          f"(median, min-max):")
    for key in ["first frame ms", "curl s", "answer s", "× curl", "cpu s", "peak RSS MiB"]:
        values = [run[key] for run in runs]
        print(f"  {key:15} {statistics.median(values):9.3f}   "
              f"({min(values):.3f}-{max(values):.3f})")


if __name__ == "__main__":
    main()
