#!/bin/sh
# run_unit.sh BIN... — run every cmocka unit-test binary; fail if any fails.
status=0
for b in "$@"; do
    "$b" || status=1
done
exit $status
