#!/bin/sh
# models/accuracy.sh — `make accuracy`: fashion-resnet top-1 on the 10,000
# Fashion-MNIST test images and scenes-unet mIoU on the 1000 test scenes at
# FP32, INT8 (skipserve-quantize: minmax, percentile, entropy) and BF16 (when
# skipserve-run has --precision), through skipserve's engine. Not in CI
# (~10 minutes on 2 cores). Arguments go to models/accuracy.py.
#   BUILD (default build)
set -eu
BUILD=${BUILD:-build}
exec nice -n 5 /usr/bin/python3 models/accuracy.py --build "$BUILD" "$@"
