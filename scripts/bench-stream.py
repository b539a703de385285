#!/usr/bin/env python3
"""Whole-process benchmark of kaiwa against the test mock, from a pseudo-terminal.

    python3 scripts/bench-stream.py [--tokens 20000] [--runs 3] [--cols 120] [--rows 40]
                                    [--frames 7] [--conversations 20000] [--no-build]

Builds the release binary and the mock (`cargo build --release --bins --examples`),
starts the mock answering every request with TOKENS tokens, one per SSE chunk,
then for each run:

- curl reads the same stream (the ceiling);
- kaiwa starts in a fresh pseudo-terminal (COLSxROWS) with a fresh HOME; the
  first frame is the time from fork to the first output that holds the
  status bar; then "go" + Enter, and the answer time is from the Enter to the
  status bar showing every token counted; Ctrl+Q; the process's CPU time
  (user + system) and peak RSS come from wait4.

Then the first frame alone, FRAMES times each (fork to the status bar on
screen, then Ctrl+Q): a first start ever (no history file yet), a start
with a history file, and `kaiwa -c` with an empty history and with
CONVERSATIONS saved conversations (imported once with `kaiwa history
import` from a generated JSONL file; 0 skips these).

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


def kaiwa_env(home, base_url):
    return {
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


def spawn(args, env, cols, rows):
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execve(KAIWA, [KAIWA, *args], env)
    return started, pid, fd


def finish(pid, fd):
    """Ctrl+Q, drain until kaiwa exits; its rusage."""
    os.write(fd, b"\x11")
    while True:  # drain until it exits, so wait4 sees it whole
        try:
            if not os.read(fd, 1 << 16):
                break
        except OSError:
            break
    _, _, usage = os.wait4(pid, 0)
    os.close(fd)
    return usage


STATUS_BAR = b"prompt 0 \xc2\xb7 completion 0"


def kaiwa_run(base_url, tokens, cols, rows):
    home = tempfile.mkdtemp(prefix="kaiwa-bench-")
    started, pid, fd = spawn([], kaiwa_env(home, base_url), cols, rows)
    seen = bytearray()
    try:
        first = read_until(fd, STATUS_BAR, started + 10, seen)
        seen.clear()
        os.write(fd, b"go\r")
        sent = time.perf_counter()
        done = read_until(fd, f"completion {tokens} ".encode(), sent + 120, seen)
    except TimeoutError as why:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.exit(f"kaiwa did not show {why}")
    usage = finish(pid, fd)
    shutil.rmtree(home, ignore_errors=True)
    peak_kib = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss / 1024
    return {
        "first frame ms": (first - started) * 1000,
        "answer s": done - sent,
        "cpu s": usage.ru_utime + usage.ru_stime,
        "peak RSS MiB": peak_kib / 1024,
    }


def first_frame_ms(home, base_url, args, cols, rows):
    """Fork to the first frame (the status bar drawn), in ms."""
    started, pid, fd = spawn(args, kaiwa_env(home, base_url), cols, rows)
    try:
        # `-c` redraws the bar with the resumed conversation's counts.
        first = read_until(fd, STATUS_BAR if not args else b"completion ", started + 10,
                           bytearray())
    except TimeoutError as why:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.exit(f"kaiwa {' '.join(args)} did not show {why}")
    finish(pid, fd)
    return (first - started) * 1000


def import_conversations(home, base_url, count):
    """`count` saved conversations of 4 messages each, through `kaiwa history import`."""
    path = os.path.join(home, "bench.jsonl")
    with open(path, "w", encoding="utf-8") as out:
        for i in range(count):
            at = 1_700_000_000_000 + i * 60_000
            uid = f"bench{i:08d}"
            messages, parent = [], None
            for j, (role, text) in enumerate([
                ("system", "You are a helpful assistant."),
                ("user", f"Question {i}: where does sushi come from?"),
                ("assistant", "Sushi comes from Japan. " * 20),
                ("user", "ChatGPT란 무엇입니까?"),
            ]):
                muid = f"{uid}m{j}"
                messages.append({"uid": muid, "parent_uid": parent, "role": role,
                                 "content": text, "state": "done", "created_at": at + j})
                parent = muid
            out.write(json.dumps({
                "format": "kaiwa.conversation", "version": 1, "uid": uid,
                "title": f"Conversation {i}", "created_at": at, "last_active_at": at + 3,
                "model": "gpt-4o-mini", "head": parent, "messages": messages,
            }) + "\n")
    subprocess.run([KAIWA, "history", "import", path], env=kaiwa_env(home, base_url),
                   check=True, stdout=subprocess.DEVNULL)


def first_frames(base_url, runs, conversations, cols, rows):
    """Median first frame of each kind of start."""
    fresh = []
    for _ in range(runs):
        home = tempfile.mkdtemp(prefix="kaiwa-bench-")
        fresh.append(first_frame_ms(home, base_url, [], cols, rows))
        shutil.rmtree(home, ignore_errors=True)
    figures = {"first start ever ms": fresh}
    empty = tempfile.mkdtemp(prefix="kaiwa-bench-")
    first_frame_ms(empty, base_url, [], cols, rows)  # creates the history file
    figures["with a history ms"] = [
        first_frame_ms(empty, base_url, [], cols, rows) for _ in range(runs)]
    if conversations:
        figures["-c, empty history ms"] = [
            first_frame_ms(empty, base_url, ["-c"], cols, rows) for _ in range(runs)]
        full = tempfile.mkdtemp(prefix="kaiwa-bench-")
        import_conversations(full, base_url, conversations)
        first_frame_ms(full, base_url, ["-c"], cols, rows)  # warms the page cache
        figures[f"-c, {conversations} saved ms"] = [
            first_frame_ms(full, base_url, ["-c"], cols, rows) for _ in range(runs)]
        shutil.rmtree(full, ignore_errors=True)
    shutil.rmtree(empty, ignore_errors=True)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cols", type=int, default=120)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--frames", type=int, default=7,
                        help="first-frame runs of each kind (0: none)")
    parser.add_argument("--conversations", type=int, default=20000,
                        help="saved conversations for the `-c` first frame (0: skip)")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bins", "--examples", "--quiet"], cwd=ROOT,
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
        frames = (first_frames(base_url, args.frames, args.conversations, args.cols, args.rows)
                  if args.frames else {})
    finally:
        mock.terminate()
        mock.wait()

    def show(key, values):
        print(f"  {key:26} {statistics.median(values):9.3f}   "
              f"({min(values):.3f}-{max(values):.3f})")

    if runs:
        print(f"{args.tokens} tokens, one per chunk, {args.cols}x{args.rows}, {args.runs} runs "
              f"(median, min-max):")
        for key in ["first frame ms", "curl s", "answer s", "× curl", "cpu s", "peak RSS MiB"]:
            show(key, [run[key] for run in runs])
    if frames:
        print(f"first frame alone, {args.frames} runs each (median, min-max):")
        for key, values in frames.items():
            show(key, values)


if __name__ == "__main__":
    main()
