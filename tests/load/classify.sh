#!/bin/sh
# classify.sh — curl load on POST /classify (see curl_load.sh for every option).
#   sh tests/load/classify.sh -n 500 -c 16 -t 30 -i tests/data/shirt.png
dir=$(dirname "$0")
: "${LOAD_IMAGE:=$dir/../data/shirt.png}"
export LOAD_IMAGE
exec sh "$dir/curl_load.sh" /classify "$@"
