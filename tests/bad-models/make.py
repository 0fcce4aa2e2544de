"""Builds the bad-model corpus: each file with the error substring loadModel must produce.

Run with Debian's python (has onnx 1.12 and numpy):  /usr/bin/python3 tests/bad-models/make.py
Writes tests/bad-models/*.onnx (and a few non-ONNX files) plus manifest.json. Deterministic.
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(1234)
cases = []


def out(name, data, expect, what, file=None):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    cases.append({"file": name, "expect": expect, "what": what, **({"errorFile": file} if file else {})})


def weights(shape, name):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def conv_net(opset=14, input_type=TensorProto.FLOAT, input_shape=("N", 3, 8, 8), nodes_extra=None, edit=None):
    """A tiny valid CNN: Conv → Relu → GlobalAveragePool → Flatten → Gemm."""
    x = helper.make_tensor_value_info("input", input_type, list(input_shape))
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4])
    inits = [weights((8, 3, 3, 3), "conv.weight"), weights((8,), "conv.bias"), weights((4, 8), "fc.weight"), weights((4,), "fc.bias")]
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
    ]
    if edit:
        edit(nodes, inits)
    g = helper.make_graph(nodes, "tiny", [x], [y], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="seelike-bad-models")
    m.ir_version = 8
    return m


valid = conv_net()
onnx.checker.check_model(valid)
good = valid.SerializeToString()
out("valid.onnx", good, None, "control: a valid model that must load")

# Not ONNX at all.
out("empty.onnx", b"", "empty file", "zero bytes")
out("not-onnx.txt", b"This is a text file, not an ONNX model.\n" * 4, "not an ONNX model", "plain text")
out("random.bin", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not an ONNX model", "4 KiB of random bytes")
out("json.onnx", json.dumps({"graph": {"node": []}}).encode(), "not an ONNX model", "JSON with an .onnx name")
out("png.onnx", bytes.fromhex("89504e470d0a1a0a0000000d49484452") + bytes(64), "not an ONNX model: an image file", "PNG header")
out("checkpoint.pt", b"PK\x03\x04" + bytes(60), "not an ONNX model: a zip archive (a PyTorch .pt/.pth checkpoint?)", "zip header of a torch.save file")
out("keras.h5", b"\x89HDF\r\n\x1a\n" + bytes(56), "not an ONNX model: an HDF5 file", "HDF5 header")

# Truncated at several offsets.
for frac in (0.02, 0.25, 0.5, 0.75, 0.98):
    n = max(1, int(len(good) * frac))
    out(f"truncated-{int(frac * 100):02d}.onnx", good[:n], "truncated", f"first {n} of {len(good)} bytes")

# Structurally incomplete ModelProto.
m = onnx.ModelProto()
m.CopyFrom(valid)
m.ClearField("graph")
out("no-graph.onnx", m.SerializeToString(), "no graph", "ModelProto without a graph")
m = onnx.ModelProto()
m.CopyFrom(valid)
m.ClearField("ir_version")
out("no-ir-version.onnx", m.SerializeToString(), "ir_version is missing", "ModelProto without ir_version")

# Opsets onnxruntime-node 1.30 cannot run.
out("opset-99.onnx", conv_net(opset=99).SerializeToString(), "unsupported opset 99", "default-domain opset 99")
out("opset-27.onnx", conv_net(opset=27).SerializeToString(), "unsupported opset 27", "default-domain opset 27, one past onnxruntime-node 1.30")
out("opset-26.onnx", conv_net(opset=26).SerializeToString(), None, "control: opset 26, the highest onnxruntime-node 1.30 loads")
out("opset-5.onnx", conv_net(opset=5).SerializeToString(), "unsupported opset 5", "default-domain opset 5")

# No 4-D float image input.
def flat_input(nodes, inits):
    nodes[:] = [helper.make_node("Gemm", ["input", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1)]
out("no-image-input.onnx", conv_net(input_shape=("N", 8), edit=flat_input).SerializeToString(), "no 4-D float image input", "a 2-D input (tabular model)")
def cast_first(nodes, inits):
    nodes.insert(0, helper.make_node("Cast", ["input"], ["input_f"], name="cast", to=TensorProto.FLOAT))
    nodes[1].input[0] = "input_f"
out("uint8-image-input.onnx", conv_net(input_type=TensorProto.UINT8, edit=cast_first).SerializeToString(), "no 4-D float image input", "uint8 image input")

# Broken references and topology.
def dangle(nodes, inits):
    nodes[2].input[0] = "does_not_exist"
out("dangling.onnx", conv_net(edit=dangle).SerializeToString(), "dangling reference: node pool (GlobalAveragePool) reads tensor does_not_exist", "a node reads a tensor nobody makes")
def dangle_out(nodes, inits):
    nodes[4].output[0] = "logits_x"
out("dangling-output.onnx", conv_net(edit=dangle_out).SerializeToString(), "graph output logits is produced by no node", "graph output without a producer")
def cycle(nodes, inits):
    # relu reads the Add that reads relu: relu → add → relu.
    nodes[1].input[0] = "loop"
    nodes.insert(2, helper.make_node("Add", ["c", "r"], ["loop"], name="add"))
out("cycle.onnx", conv_net(edit=cycle).SerializeToString(), "cycle in the graph", "relu → add → relu")
def dup(nodes, inits):
    nodes.insert(2, helper.make_node("Sigmoid", ["c"], ["r"], name="sigmoid"))
out("duplicate-producer.onnx", conv_net(edit=dup).SerializeToString(), "tensor r is produced by more than one node", "two nodes write r")
def custom(nodes, inits):
    nodes[1] = helper.make_node("FancyRelu", ["c"], ["r"], name="fancy", domain="com.example")
m = conv_net(edit=custom)
m.opset_import.append(helper.make_opsetid("com.example", 1))
out("custom-domain.onnx", m.SerializeToString(), "custom operator domain 'com.example'", "an operator onnxruntime does not know")

# A corrupt node record: append a GraphProto.node field whose payload is not a NodeProto.
# ModelProto.graph (field 7) merges, so this adds one garbage node to the valid graph.
def varint(v):
    b = bytearray()
    while v >= 0x80:
        b.append((v & 0x7F) | 0x80)
        v >>= 7
    b.append(v)
    return bytes(b)
bad_node = b"\x0a" + varint(16) + b"abc"  # NodeProto.input claims 16 bytes, its record holds 3
graph_tail = b"\x0a" + varint(len(bad_node)) + bad_node  # GraphProto.node
out("corrupt-node.onnx", good + b"\x3a" + varint(len(graph_tail)) + graph_tail, "corrupt node #5", "a node record that does not decode")

# An initializer whose raw_data does not match its dims.
m = conv_net()
w = next(t for t in m.graph.initializer if t.name == "fc.weight")
w.raw_data = w.raw_data[:-4]
out("initializer-size.onnx", m.SerializeToString(), "corrupt initializer fc.weight: raw_data holds 124 bytes, dims [4,8] of float32 need 128", "raw_data one float short")

# A node whose operator type is not an identifier (a flipped byte in op_type).
def garbled(nodes, inits):
    nodes[1].op_type = "Re\x01u"
out("garbled-op.onnx", conv_net(edit=garbled).SerializeToString(), "is not an identifier", "op_type with a control character")

# External data: missing file, and a file too short for the tensor.
def external(name, location, write_bytes):
    m = conv_net()
    w = next(t for t in m.graph.initializer if t.name == "conv.weight")
    raw = w.raw_data
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    del w.external_data[:]
    for k, v in (("location", location), ("offset", "0"), ("length", str(len(raw)))):
        e = w.external_data.add()
        e.key, e.value = k, v
    if write_bytes is not None:
        with open(os.path.join(HERE, location), "wb") as f:
            f.write(raw[:write_bytes])
    return m.SerializeToString(), len(raw)
data, _ = external("missing-external.onnx", "missing-weights.bin", None)
out("missing-external.onnx", data, "missing external data file for initializer conv.weight", "external data file absent", file="missing-weights.bin")
data, n = external("short-external.onnx", "short-weights.bin", 100)
out("short-external.onnx", data, "external data file is too short for initializer conv.weight", f"external file of 100 of {n} bytes", file="short-weights.bin")
data, n = external("good-external.onnx", "good-weights.bin", 10**9)
out("good-external.onnx", data, None, "control: valid external data that must load")

with open(os.path.join(HERE, "manifest.json"), "w") as f:
    json.dump({"made_by": "tests/bad-models/make.py", "onnx": onnx.__version__, "cases": cases}, f, indent=1)
print(f"{len(cases)} cases")
