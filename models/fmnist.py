"""Read Debian's Fashion-MNIST (idx-ubyte, gzip) into numpy arrays.

Kept separate so the classifier, the scene generator and the tests read the
data set the same way, from /usr/share/datasets/fashion-mnist/ only."""
import gzip
import os

import numpy as np

DATA_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# Pixel statistics of the 60k training images at scale 1/255 (computed by
# train_classifier.py --stats; fixed here so exports do not depend on a rerun).
MEAN = 0.2860
STD = 0.3530


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte
        raise ValueError("%s: not an idx-ubyte file (magic %08x)" % (path, magic))
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    off = 4 + 4 * ndim
    arr = np.frombuffer(data, dtype=np.uint8, offset=off)
    if arr.size != int(np.prod(dims)):
        raise ValueError("%s: truncated" % path)
    return arr.reshape(dims)


def load(split):
    """split = 'train' or 'test' -> (images uint8 [N,28,28], labels uint8 [N])."""
    prefix = {"train": "train", "test": "t10k"}[split]
    x = _read_idx(os.path.join(DATA_DIR, prefix + "-images-idx3-ubyte.gz"))
    y = _read_idx(os.path.join(DATA_DIR, prefix + "-labels-idx1-ubyte.gz"))
    return x, y
