"""ONNX export helpers shared by the training scripts and export_zoo.py."""
import os

import numpy as np
import onnx
import onnx.numpy_helper
import torch


def export_onnx(model, example, path, opset, output_name="output", input_name="input",
                dynamic_batch=True):
    """Export `model` (eval mode) with input `input_name`, a dynamic batch
    dimension "N" on input and output, and every weight inside the file."""
    model.eval()
    axes = {input_name: {0: "N"}, output_name: {0: "N"}} if dynamic_batch else None
    with torch.no_grad():
        torch.onnx.export(model, example, path, opset_version=opset,
                          input_names=[input_name], output_names=[output_name],
                          dynamic_axes=axes, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))


def save_tensor(path, arr, name):
    t = onnx.numpy_helper.from_array(np.ascontiguousarray(arr), name)
    with open(path, "wb") as f:
        f.write(t.SerializeToString())


def save_test_data(folder, inputs, outputs):
    """Node-test layout: folder/input_K.pb and output_K.pb, in dict order."""
    os.makedirs(folder, exist_ok=True)
    for k, (name, arr) in enumerate(inputs.items()):
        save_tensor(os.path.join(folder, "input_%d.pb" % k), arr, name)
    for k, (name, arr) in enumerate(outputs.items()):
        save_tensor(os.path.join(folder, "output_%d.pb" % k), arr, name)


def check_onnx(path, x, y_ref):
    """If onnxruntime happens to be installed, check the file reproduces
    PyTorch's output; otherwise the structural check in export_onnx is all."""
    try:
        import onnxruntime as ort
    except ImportError:
        return
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    err = np.abs(y - y_ref).max() / max(1e-12, np.abs(y_ref).max())
    if err > 1e-4:
        raise RuntimeError("%s: onnxruntime differs from PyTorch (max-abs-norm %g)" % (path, err))
