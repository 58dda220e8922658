#!/bin/sh
# segment.sh — curl load on POST /segment (see curl_load.sh for every option).
#   sh tests/load/segment.sh -n 500 -c 16 -t 30 -i tests/data/scene.png
dir=$(dirname "$0")
: "${LOAD_IMAGE:=$dir/../data/scene.png}"
export LOAD_IMAGE
exec sh "$dir/curl_load.sh" /segment "$@"
