#!/bin/sh
# The hostile cases of issue 15 that a plain `cargo test` skips because they are
# heavy (`#[ignore = "heavy: …"]`), run in a release build: today the
# 300,000-token answer in tests/hostile_pty.rs. Extra arguments go to the test
# harness (a name filter, `--nocapture`).
set -eu
cd "$(dirname "$0")/.."
exec cargo test --locked --release --test hostile_pty -- --ignored "$@"
