#!/bin/sh
# entrypoint.sh — run skipserve as PID 1 (exec, so SIGTERM reaches it and it
# drains). Arguments starting with "-" are skipserve flags:
#   docker run IMAGE --max-batch 16 --threads 4
# anything else is run as a command (docker run -it IMAGE sh).
set -e
if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
    exec /usr/local/bin/skipserve "$@"
fi
exec "$@"
