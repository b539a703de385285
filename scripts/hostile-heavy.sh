#!/bin/sh
# The hostile-case tests of issue 15 that `cargo test` skips as too heavy
# (marked #[ignore = "heavy: …"]), run on their own:
#
#   scripts/hostile-heavy.sh            # every heavy test
#   scripts/hostile-heavy.sh 50000      # only those whose name matches
#
# Today that is one test: a ChatGPT export with a 50,000-deep chain and a
# parent cycle, imported on a 256 KiB stack (~25 s in a debug build). Extra
# arguments go to the test harness as a name filter.
set -eu
cd "$(dirname "$0")/.."
exec cargo test --locked --test hostile_history -- --ignored "$@"
