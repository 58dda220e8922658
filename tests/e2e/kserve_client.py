"""kserve_client.py — a KServe v2 / Triton HTTP client that puts the same
bytes on the wire as tritonclient.http does (tritonclient cannot be
installed here: no PyPI), and the checks of tests/e2e/suite_kserve.sh.

  kserve_client.py PORT CASE      run one check against 127.0.0.1:PORT;
                                  exit 0 when it passes, else print why
  kserve_client.py seeds DIR      write the infer bodies the checks send as
                                  fuzz seeds (tests/fuzz/fuzz_kserve.c format)

Wire format, as tritonclient.http builds it (InferenceServerClient.infer,
_get_inference_request, InferInput, InferRequestedOutput, InferResult):
  - the JSON is json.dumps of {"id"?, "inputs", "outputs"?, "parameters"?}
    with Python's default separators; an input is {"name", "shape",
    "datatype"} plus "parameters": {"binary_data_size": n} when binary, or
    "data": [...] when not; a requested output is {"name", "parameters":
    {"binary_data": bool[, "classification": k]}}; with no outputs asked for,
    parameters.binary_data_output = true;
  - binary input buffers are appended after the JSON in input order, and the
    JSON's size goes in the Inference-Header-Content-Length header;
  - BYTES elements are serialised as a little-endian uint32 length + bytes;
  - the answer's JSON is the first Inference-Header-Content-Length bytes when
    that header is present; outputs with parameters.binary_data_size take
    their bytes from after it, in the order the outputs are listed.
Expected values come from elsewhere: the models' PyTorch test data
(models/*/test_data_set_0, exported with the model) and the same server's
/classify and /segment answers for the same image."""
import base64
import http.client
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DT = {"FP32": np.float32, "INT64": np.int64, "INT32": np.int32, "UINT8": np.uint8,
      "FP16": np.float16, "BF16": np.uint16}  # BF16: the raw 16-bit patterns


class Input:
    def __init__(self, name, shape, datatype, data, binary=True):
        self.name, self.shape, self.datatype = name, list(shape), datatype
        self.data, self.binary = data, binary

    def raw(self):
        if self.datatype == "BYTES":
            return b"".join(struct.pack("<I", len(b)) + b for b in self.data)
        return np.ascontiguousarray(self.data, dtype=DT[self.datatype]).tobytes()

    def tensor(self):
        t = {"name": self.name, "shape": self.shape, "datatype": self.datatype}
        if self.binary:
            t["parameters"] = {"binary_data_size": len(self.raw())}
        elif self.datatype == "BYTES":
            t["data"] = [base64.b64encode(b).decode() for b in self.data]
        else:
            t["data"] = self.data if isinstance(self.data, list) else self.data.tolist()
        return t


class Output:
    def __init__(self, name, binary=True, class_count=0):
        self.name, self.binary, self.class_count = name, binary, class_count

    def tensor(self):
        p = {"binary_data": self.binary}
        if self.class_count:
            p["classification"] = self.class_count
        return {"name": self.name, "parameters": p}


def request_body(inputs, outputs=None, request_id="", parameters=None):
    """(body bytes, json size or None), as _get_inference_request makes them."""
    req, params = {}, dict(parameters or {})
    if request_id:
        req["id"] = request_id
    req["inputs"] = [i.tensor() for i in inputs]
    if outputs:
        req["outputs"] = [o.tensor() for o in outputs]
    else:
        params["binary_data_output"] = True
    if params:
        req["parameters"] = params
    js = json.dumps(req).encode()
    raw = b"".join(i.raw() for i in inputs if i.binary)
    return (js + raw, len(js)) if raw else (js, None)


def parse_result(headers, body):
    """{name: numpy array} and the JSON, as InferResult.as_numpy reads them."""
    hl = headers.get("Inference-Header-Content-Length")
    j = json.loads(body if hl is None else body[: int(hl)])
    pos, out = 0 if hl is None else int(hl), {}
    for o in j.get("outputs", []):
        size = o.get("parameters", {}).get("binary_data_size")
        if size is None:
            a = o["data"]
            out[o["name"]] = (np.array(a, dtype=object) if o["datatype"] == "BYTES"
                              else np.array(a, dtype=DT[o["datatype"]])).reshape(o["shape"])
            continue
        buf = body[pos:pos + size]
        pos += size
        if o["datatype"] == "BYTES":
            items, k = [], 0
            while k < len(buf):
                (n,) = struct.unpack_from("<I", buf, k)
                items.append(buf[k + 4:k + 4 + n])
                k += 4 + n
            out[o["name"]] = np.array(items, dtype=object).reshape(o["shape"])
        else:
            out[o["name"]] = np.frombuffer(buf, dtype=DT[o["datatype"]]).reshape(o["shape"])
    assert hl is None or pos == len(body), \
        "answer has %d bytes, its JSON and outputs account for %d" % (len(body), pos)
    return out, j


class Client:
    """One keep-alive connection, reused for every request."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
        self.conn.connect()
        self.local = self.conn.sock.getsockname()

    def same_socket(self):
        return self.conn.sock is not None and self.conn.sock.getsockname() == self.local

    def call(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        r = self.conn.getresponse()
        data = r.read()
        return r.status, r.headers, data

    def get_json(self, path):
        st, h, b = self.call("GET", path)
        return st, json.loads(b) if b else None

    def infer(self, model, inputs, outputs=None, request_id="", parameters=None,
              header_name="Inference-Header-Content-Length", version=""):
        body, jsize = request_body(inputs, outputs, request_id, parameters)
        headers = {} if jsize is None else {header_name: str(jsize)}
        path = "/v2/models/%s%s/infer" % (model, "/versions/" + version if version else "")
        st, h, data = self.call("POST", path, body, headers)
        return st, h, data


def pb(path):
    import onnx
    from onnx import numpy_helper
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def testdata(model):
    d = os.path.join(ROOT, "models", model, "test_data_set_0")
    return pb(os.path.join(d, "input_0.pb")), pb(os.path.join(d, "output_0.pb"))


def close(a, b, what):
    # fp32 engine vs PyTorch: within 1e-4 of the output's range
    tol = 1e-4 * max(1.0, float(np.abs(b).max()))
    err = float(np.abs(a.astype(np.float64) - b).max())
    assert a.shape == b.shape, "%s: shape %s, want %s" % (what, a.shape, b.shape)
    assert err <= tol, "%s: max error %g over %g" % (what, err, tol)


def image(name):
    with open(os.path.join(ROOT, "tests", "data", name), "rb") as f:
        return f.read()


def error_answer(st, h, data, want, words):
    assert st == want, "status %d, want %d: %r" % (st, want, data[:300])
    assert h.get("Content-Type", "").startswith("application/json"), h.get("Content-Type")
    j = json.loads(data)
    assert isinstance(j.get("error"), str) and j["error"], j
    for w in words:
        assert w in j["error"], "error %r does not mention %r" % (j["error"], w)


# --- checks -----------------------------------------------------------------

def case_meta(c):
    st, j = c.get_json("/v2")
    assert st == 200 and j["name"] == "skipserve", j
    assert {"binary_tensor_data", "classification", "model_repository",
            "statistics"} <= set(j["extensions"]), j
    assert c.get_json("/v2/health/live") == (200, {"live": True})
    assert c.get_json("/v2/health/ready") == (200, {"ready": True})
    st, j = c.get_json("/v2/models/fashion-resnet")
    assert st == 200 and j["name"] == "fashion-resnet" and j["platform"] == "onnx", j
    assert "1" in j["versions"]
    assert j["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 28, 28]}], j
    assert j["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}], j
    st, j2 = c.get_json("/v2/models/fashion-resnet/versions/1")
    assert st == 200 and j2 == j
    st, j = c.get_json("/v2/models/scenes-unet")
    assert j["outputs"][0]["shape"] == [-1, 8, 128, 128], j
    assert c.get_json("/v2/models/fashion-resnet/ready")[0] == 200
    assert c.get_json("/v2/models/fashion-resnet/versions/1/ready")[0] == 200
    st, cfg = c.get_json("/v2/models/fashion-resnet/config")
    assert st == 200 and cfg["max_batch_size"] >= 1, cfg
    assert cfg["input"][0]["dims"] == [1, 28, 28] and cfg["input"][0]["data_type"] == "TYPE_FP32"
    assert cfg["output"][0]["dims"] == [10] and cfg["output"][0]["name"] == "logits"
    assert "max_queue_delay_microseconds" in cfg["dynamic_batching"], cfg
    for path, code in [("/v2/models/nope", 404), ("/v2/models/nope/ready", 404),
                       ("/v2/models/fashion-resnet/versions/7", 404),
                       ("/v2/models/fashion-resnet/versions/7/ready", 404),
                       ("/v2/nothing/here", 404), ("/v2/models/..%2f..%2fetc/config", 404)]:
        st, h, b = c.call("GET", path)
        error_answer(st, h, b, code, [])
    st, h, b = c.call("GET", "/v2/models/fashion-resnet/infer")
    error_answer(st, h, b, 405, ["POST"])
    assert h.get("Allow") == "POST", h.get("Allow")
    st, h, b = c.call("POST", "/v2/repository/index", b"{}")
    assert st == 200, st
    names = {(m["name"], m["state"]) for m in json.loads(b)}
    assert ("fashion-resnet", "READY") in names and ("scenes-unet", "READY") in names, names
    assert c.same_socket(), "the connection was not kept alive"


def case_tensor_binary(c):
    x, want = testdata("fashion-resnet")
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "FP32", x)])
    assert st == 200, (st, b[:300])
    assert h.get("Content-Type") == "application/octet-stream", h.get("Content-Type")
    out, j = parse_result(h, b)
    assert j["model_name"] == "fashion-resnet" and j["model_version"] == "1", j
    assert j["outputs"][0]["parameters"]["binary_data_size"] == 4 * 40, j
    assert len(b) == int(h["Inference-Header-Content-Length"]) + 160
    close(out["logits"], want, "binary FP32 vs PyTorch")
    # the same through /versions/1
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "FP32", x)], version="1")
    close(parse_result(h, b)[0]["logits"], want, "versions/1")
    x, want = testdata("scenes-unet")
    st, h, b = c.infer("scenes-unet", [Input("input", x[:2].shape, "FP32", x[:2])])
    assert st == 200, (st, b[:300])
    close(parse_result(h, b)[0]["logits"], want[:2], "segmenter binary")


def case_tensor_json(c):
    x, want = testdata("fashion-resnet")
    # nested data, JSON answer, id echoed, parameters tritonclient sends tolerated
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "FP32", x, binary=False)],
                       [Output("logits", binary=False)], request_id="req-42",
                       parameters={"timeout": 5000000, "priority": 1, "anything": "else"})
    assert st == 200, (st, b[:300])
    assert "Inference-Header-Content-Length" not in h
    assert h.get("Content-Type") == "application/json"
    out, j = parse_result(h, b)
    assert j["id"] == "req-42", j.get("id")
    close(out["logits"], want, "nested JSON")
    # flat data
    flat = Input("input", x.shape, "FP32", [float(v) for v in x.reshape(-1)], binary=False)
    st, h, b = c.infer("fashion-resnet", [flat], [Output("logits", binary=False)])
    assert st == 200, (st, b[:300])
    close(parse_result(h, b)[0]["logits"], want, "flat JSON")
    # integers are numbers too
    st, h, b = c.infer("fashion-resnet", [Input("input", [1, 1, 28, 28], "FP32",
                                                [0] * 784, binary=False)],
                       [Output("logits", binary=False)])
    assert st == 200, (st, b[:300])


def case_tensor_half(c):
    """FP16 and BF16 inputs: the answer equals the FP32 answer for the same
    values (numpy's float16 widening; bfloat16 as the top 16 bits of a
    float32), binary and JSON, and stays near PyTorch's."""
    x, want = testdata("fashion-resnet")
    x16 = x.astype(np.float16)
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "FP32", x16.astype(np.float32))])
    assert st == 200, (st, b[:300])
    ref = parse_result(h, b)[0]["logits"]
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "FP16", x16)])
    assert st == 200, (st, b[:300])
    assert np.array_equal(parse_result(h, b)[0]["logits"], ref), "binary FP16 != FP32 of its values"
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "FP16",
                                                [float(v) for v in x16.reshape(-1)], binary=False)])
    assert st == 200, (st, b[:300])
    assert np.array_equal(parse_result(h, b)[0]["logits"], ref), "JSON FP16 != FP32 of its values"
    # fp16 inputs move a 28x28 image's logits by ~1e-3 of their range
    err = float(np.abs(ref - want).max())
    assert err <= 1e-2 * float(np.abs(want).max()), "FP16 input vs PyTorch: %g" % err
    bits = (x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    xb = (bits.astype(np.uint32) << 16).view(np.float32)
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "FP32", xb)])
    refb = parse_result(h, b)[0]["logits"]
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "BF16", bits)])
    assert st == 200, (st, b[:300])
    assert np.array_equal(parse_result(h, b)[0]["logits"], refb), "binary BF16 != FP32 of its values"
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "BF16",
                                                [float(v) for v in xb.reshape(-1)], binary=False)])
    assert st == 200, (st, b[:300])
    assert np.array_equal(parse_result(h, b)[0]["logits"], refb), "JSON BF16 != FP32 of its values"
    # other datatypes stay refused, with the types that are taken named
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "UINT8",
                                                np.zeros(x.shape, np.uint8))])
    assert st == 400 and b"FP16, BF16" in b, (st, b[:300])


def case_mixed(c):
    x, want = testdata("fashion-resnet")
    # binary input, JSON output
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "FP32", x)],
                       [Output("logits", binary=False)])
    assert st == 200 and "Inference-Header-Content-Length" not in h, (st, b[:200])
    close(parse_result(h, b)[0]["logits"], want, "binary in, JSON out")
    # JSON input, binary output asked per output; the header in lower case
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "FP32", x, binary=False)],
                       [Output("logits", binary=True)])
    assert st == 200 and "Inference-Header-Content-Length" in h, (st, b[:200])
    close(parse_result(h, b)[0]["logits"], want, "JSON in, binary out")
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "FP32", x)],
                       [Output("logits", binary=True)],
                       header_name="inference-header-content-length")
    assert st == 200, (st, b[:200])
    close(parse_result(h, b)[0]["logits"], want, "lower-case header")
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "FP32", x)],
                       header_name="INFERENCE-HEADER-CONTENT-LENGTH")
    assert st == 200, (st, b[:200])
    # one binary tensor + one JSON tensor in one request: parsed, then refused
    # by name because the model has one input (the order of binary slices is
    # checked byte for byte by tests/unit/test_kserve_binary.c)
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "FP32", x),
                                          Input("extra", [2], "FP32", [1.0, 2.0], binary=False)])
    error_answer(st, h, b, 400, ["one input"])


def classify(c, img, k):
    st, h, b = c.call("POST", "/classify?model=fashion-resnet&top_k=%d" % k, img,
                      {"Content-Type": "application/octet-stream"})
    assert st == 200, (st, b[:200])
    return [(p["score"], p["index"], p["label"]) for p in json.loads(b)["predictions"][0]]


def parse_cls(s):
    score, idx, label = s.decode().split(":", 2)
    return float(score), int(idx), label


def same_as_classify(rows, ref, what):
    assert len(rows) == len(ref), (rows, ref)
    for got, want in zip(rows, ref):
        g = parse_cls(got)
        assert g[1:] == want[1:], "%s: %r vs /classify %r" % (what, g, want)
        assert abs(g[0] - want[0]) <= 2e-6, "%s: score %r vs /classify %r" % (what, g, want)


def case_classification(c):
    png, jpg = image("shirt.png"), image("shirt.jpg")
    ref_png, ref_jpg = classify(c, png, 3), classify(c, jpg, 3)
    # binary BYTES image, classification asked per output, binary answer
    st, h, b = c.infer("fashion-resnet", [Input("input", [1], "BYTES", [png])],
                       [Output("logits", binary=True, class_count=3)])
    assert st == 200, (st, b[:300])
    out, j = parse_result(h, b)
    assert j["outputs"][0]["datatype"] == "BYTES" and j["outputs"][0]["shape"] == [1, 3], j
    same_as_classify(list(out["logits"][0]), ref_png, "PNG binary")
    # two images (PNG, JPEG) as JSON base64 strings, JSON answer
    st, h, b = c.infer("fashion-resnet", [Input("input", [2], "BYTES", [png, jpg], binary=False)],
                       [Output("logits", binary=False, class_count=3)])
    assert st == 200, (st, b[:300])
    out, j = parse_result(h, b)
    same_as_classify([s.encode() for s in out["logits"][0]], ref_png, "PNG JSON")
    same_as_classify([s.encode() for s in out["logits"][1]], ref_jpg, "JPEG JSON")
    # request-level classification (KServe clients), shape [N,1]
    body = json.dumps({"inputs": [{"name": "input", "shape": [1, 1], "datatype": "BYTES",
                                   "data": [{"b64": base64.b64encode(jpg).decode()}]}],
                       "parameters": {"classification": 1}}).encode()
    st, h, b = c.call("POST", "/v2/models/fashion-resnet/infer", body,
                      {"Content-Type": "application/json"})
    assert st == 200, (st, b[:300])
    same_as_classify([json.loads(b)["outputs"][0]["data"][0].encode()], ref_jpg[:1], "b64 obj")
    # image in, raw logits out: their softmax is /classify's scores
    st, h, b = c.infer("fashion-resnet", [Input("input", [1], "BYTES", [png])])
    logits = parse_result(h, b)[0]["logits"][0].astype(np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    for score, idx, _ in ref_png:
        assert abs(p[idx] - score) < 2e-6, (p[idx], score)
    # a segmenter: image in, logits out; argmax is /segment's mask
    scene = image("scene.png")
    st, h, b = c.infer("scenes-unet", [Input("input", [1], "BYTES", [scene])])
    assert st == 200, (st, b[:300])
    t = parse_result(h, b)[0]["logits"]
    assert t.shape == (1, 8, 128, 128), t.shape
    st, hh, mask = c.call("POST", "/segment?model=scenes-unet&format=indices", scene,
                          {"Content-Type": "image/png"})
    assert st == 200 and len(mask) == 128 * 128, (st, len(mask))
    am = t[0].argmax(axis=0).astype(np.uint8).reshape(-1)
    assert (am == np.frombuffer(mask, dtype=np.uint8)).mean() == 1.0, "argmax != /segment mask"


def case_errors(c):
    x, _ = testdata("fashion-resnet")
    one = x[:1]
    cases = [
        # wrong shape
        (lambda: c.infer("fashion-resnet", [Input("input", [1, 1, 27, 28], "FP32",
                                                  np.zeros((1, 1, 27, 28)))]),
         400, ["shape", "[-1,1,28,28]"]),
        # shape and data disagree
        (lambda: c.infer("fashion-resnet", [Input("input", [1, 1, 28, 28], "FP32", [1.0, 2.0],
                                                  binary=False)]), 400, ["784"]),
        # wrong datatype
        (lambda: c.infer("fashion-resnet", [Input("input", one.shape, "INT64",
                                                  one.astype(np.int64))]),
         400, ["INT64", "FP32"]),
        (lambda: c.infer("fashion-resnet", [Input("input", [1], "FP99", [1.0], binary=False)]),
         400, ["datatype"]),
        # unknown output / input / model
        (lambda: c.infer("fashion-resnet", [Input("input", one.shape, "FP32", one)],
                         [Output("probs")]), 400, ["unknown output", "probs"]),
        (lambda: c.infer("fashion-resnet", [Input("image", one.shape, "FP32", one)]),
         400, ["unknown input", "image"]),
        (lambda: c.infer("no-such-model", [Input("input", one.shape, "FP32", one)]),
         404, ["no-such-model"]),
        (lambda: c.infer("fashion-resnet", [Input("input", one.shape, "FP32", one)],
                         version="3"), 404, ["version"]),
        # classification of a segmenter; k over the classes
        (lambda: c.infer("scenes-unet", [Input("input", [1], "BYTES", [image("scene.png")])],
                         [Output("logits", class_count=2)]), 400, ["segment"]),
        (lambda: c.infer("fashion-resnet", [Input("input", [1], "BYTES", [image("shirt.png")])],
                         [Output("logits", class_count=11)]), 400, ["1..10"]),
        # not an image
        (lambda: c.infer("fashion-resnet", [Input("input", [1], "BYTES", [b"GIF89a......"])]),
         400, ["image"]),
    ]
    for i, (fn, code, words) in enumerate(cases):
        st, h, b = fn()
        try:
            error_answer(st, h, b, code, words)
        except AssertionError as e:
            raise AssertionError("case %d: %s" % (i, e))
    body, jsize = request_body([Input("input", one.shape, "FP32", one)])
    raw = [
        # header length larger than the body
        (body, {"Inference-Header-Content-Length": str(len(body) + 1)}, ["Header-Content-Length"]),
        (body, {"Inference-Header-Content-Length": "-3"}, ["Header-Content-Length"]),
        # body shorter than the declared binary sizes
        (body[:-1], {"Inference-Header-Content-Length": str(jsize)}, ["binary_data_size"]),
        # bytes no input accounts for
        (body + b"\0\0\0\0", {"Inference-Header-Content-Length": str(jsize)}, ["follow"]),
        # binary inputs without the header: the whole body is taken as JSON
        (body, {}, ["JSON"]),
        (b"{\"inputs\": [", {}, ["JSON"]),
        (b"[]", {}, ["object"]),
        (b"", {}, ["empty"]),
        (json.dumps({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32",
                                 "data": [[1.0, "x"]]}]}).encode(), {}, ["not a number"]),
        (json.dumps({"inputs": [], "id": "x"}).encode(), {}, ["inputs"]),
        (json.dumps({"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES",
                                 "parameters": {"binary_data_size": 9}}]}).encode() +
         b"\x09\0\0\0abcd\x01", None, ["element 0"]),
    ]
    for i, (b, hdr, words) in enumerate(raw):
        if hdr is None:
            hdr = {"Inference-Header-Content-Length": str(len(b) - 9)}
        st, h, data = c.call("POST", "/v2/models/fashion-resnet/infer", b, hdr)
        try:
            error_answer(st, h, data, 400, words)
        except AssertionError as e:
            raise AssertionError("raw case %d: %s" % (i, e))
    st, h, data = c.call("POST", "/v2/models/fashion-resnet/infer", body,
                         {"Inference-Header-Content-Length": str(jsize), "Content-Encoding": "gzip"})
    error_answer(st, h, data, 415, ["gzip"])
    # every error above left the connection open, and it still serves
    assert c.same_socket(), "an error answer closed the connection"
    st, h, b = c.infer("fashion-resnet", [Input("input", one.shape, "FP32", one)])
    assert st == 200 and c.same_socket()


def case_keepalive(c):
    x, want = testdata("fashion-resnet")
    for i in range(20):
        st, h, b = c.infer("fashion-resnet", [Input("input", x[i % 4:i % 4 + 1].shape, "FP32",
                                                    x[i % 4:i % 4 + 1])])
        assert st == 200, (i, st)
        close(parse_result(h, b)[0]["logits"], want[i % 4:i % 4 + 1], "request %d" % i)
        assert c.get_json("/v2/health/ready")[0] == 200
        assert c.same_socket(), "request %d opened a new connection" % i


def case_stats(c):
    """The statistics extension counts every request that reached the model,
    KServe and /classify alike, and every engine run."""
    def get():
        st, j = c.get_json("/v2/models/fashion-resnet/stats")
        assert st == 200 and len(j["model_stats"]) == 1, (st, j)
        return j["model_stats"][0]
    x, _ = testdata("fashion-resnet")
    s0 = get()
    st, h, b = c.infer("fashion-resnet", [Input("input", x[:1].shape, "FP32", x[:1])])
    assert st == 200
    st, h, b = c.infer("fashion-resnet", [Input("input", x.shape, "FP32", x)])
    assert st == 200
    classify(c, image("shirt.png"), 1)
    s1 = get()
    d = lambda k: s1["inference_stats"][k]["count"] - s0["inference_stats"][k]["count"]
    assert d("success") == 3 and d("fail") == 0, (s0, s1)
    assert d("queue") == 3 and d("compute_infer") == 3 and d("compute_input") == 3, s1
    assert s1["inference_count"] - s0["inference_count"] == 6, (s0, s1)
    assert s1["execution_count"] - s0["execution_count"] == 3, (s0, s1)
    for k in ("success", "compute_infer", "compute_input", "compute_output"):
        assert s1["inference_stats"][k]["ns"] > s0["inference_stats"][k]["ns"], k
    assert s1["last_inference"] >= s0["last_inference"] and s1["last_inference"] > 1.6e12
    b4 = [b for b in s1["batch_stats"] if b["batch_size"] == 4]
    assert b4 and b4[0]["compute_infer"]["count"] >= 1 and b4[0]["compute_infer"]["ns"] > 0, s1
    assert s1["version"] == "1" and s1["name"] == "fashion-resnet"
    st, j = c.get_json("/v2/models/stats")
    assert st == 200 and {m["name"] for m in j["model_stats"]} == {"fashion-resnet", "scenes-unet"}
    assert c.get_json("/v2/models/fashion-resnet/versions/1/stats")[0] == 200
    assert c.get_json("/v2/models/nope/stats")[0] == 404
    assert c.get_json("/v2/models/fashion-resnet/versions/5/stats")[0] == 404


def case_too_large(c):
    # against a server with --max-body 1M: refused from the Content-Length,
    # before the body is sent, to a client that waits for 100 Continue (as
    # curl does); a client that sends at once finds the socket closed
    x = np.zeros((400, 1, 28, 28), dtype=np.float32)
    body, jsize = request_body([Input("input", x.shape, "FP32", x)])
    c.conn.putrequest("POST", "/v2/models/fashion-resnet/infer")
    for k, v in [("Content-Length", str(len(body))), ("Expect", "100-continue"),
                 ("Inference-Header-Content-Length", str(jsize))]:
        c.conn.putheader(k, v)
    c.conn.endheaders()
    r = c.conn.getresponse()
    error_answer(r.status, r.headers, r.read(), 413, ["max-body"])


def case_timeout(c):
    # against a server with --timeout-ms 1: a 65536-value JSON tensor takes
    # longer than that to parse, so it leaves the queue past its deadline
    x = np.zeros((4, 1, 128, 128), dtype=np.float32)
    st, h, b = c.infer("scenes-unet", [Input("input", x.shape, "FP32", x, binary=False)])
    error_answer(st, h, b, 504, [])


def case_overload(c):
    # against a server with --max-queue 1 --max-batch 1: 16 clients at once
    # on the segmenter; the queue holds one image, the rest are told to retry
    import threading
    x = np.zeros((1, 1, 128, 128), dtype=np.float32)
    body, jsize = request_body([Input("input", x.shape, "FP32", x)])
    port = c.conn.port
    go, out = threading.Barrier(16), []

    def one():
        k = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        go.wait()
        k.request("POST", "/v2/models/scenes-unet/infer", body,
                  {"Inference-Header-Content-Length": str(jsize)})
        r = k.getresponse()
        out.append((r.status, r.headers, r.read()))
    ts = [threading.Thread(target=one) for _ in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    codes = sorted(o[0] for o in out)
    assert len(out) == 16 and set(codes) <= {200, 429}, codes
    assert 200 in codes and 429 in codes, codes
    for st, h, b in out:
        if st == 429:
            error_answer(st, h, b, 429, ["queue"])
            assert h.get("Retry-After") == "1", h.get("Retry-After")


CASES = {n[5:]: f for n, f in globals().items() if n.startswith("case_")}


def seeds(d):
    """The bodies the checks send, prefixed as fuzz_kserve.c reads them:
    byte 0 = 1 when an Inference-Header-Content-Length follows as 4 LE bytes."""
    os.makedirs(d, exist_ok=True)
    x = np.linspace(-1, 1, 784, dtype=np.float32).reshape(1, 1, 28, 28)
    png = image("shirt.png")
    reqs = {
        "binary": ([Input("input", x.shape, "FP32", x)], None, {}),
        "json_nested": ([Input("input", x.shape, "FP32", x, binary=False)],
                        [Output("logits", binary=False)], {"timeout": 5}),
        "mixed": ([Input("input", x.shape, "FP32", x),
                   Input("b", [2], "BYTES", [b"ab", b""], binary=False),
                   Input("c", [2], "BYTES", [b"xyz", b"q"])], [Output("logits")], {}),
        "class_png": ([Input("input", [1], "BYTES", [png[:2000]])],
                      [Output("logits", class_count=3)], {}),
        "int64": ([Input("input", [1, 2], "INT64", np.array([[1, 2]]))], None, {}),
    }
    for name, (ins, outs, params) in reqs.items():
        body, jsize = request_body(ins, outs, "id-" + name, params)
        with open(os.path.join(d, "kserve_" + name), "wb") as f:
            f.write(b"\x01" + struct.pack("<I", jsize) + body if jsize else b"\x00" + body)


def main():
    if sys.argv[1] == "seeds":
        seeds(sys.argv[2])
        return 0
    port, case = sys.argv[1], sys.argv[2]
    try:
        CASES[case](Client(port))
    except AssertionError as e:
        print("    %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
