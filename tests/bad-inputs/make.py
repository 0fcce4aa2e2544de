"""Builds the bad-input corpus (data, images, arrays, hostile names) and its manifest.

Run with Debian's python (PIL, numpy, onnx 1.12):  /usr/bin/python3 tests/bad-inputs/make.py
Writes tests/bad-inputs/{folders,arrays,idx,csv,models}/... and manifest.json. Deterministic.

Each case runs the real CLI (tests/fuzz-corpus.test.ts):
  seelike analyze MODEL --data DATA --batch 4 --analyses cka --out OUT  [+ case args]
and must end with the expected exit code; for exit 2, one stderr line naming `file` and holding
`message`. Cases that are legal but odd expect exit 0, with `conversion` saying what happens.
Model cases live in tests/bad-models (its manifest is run through the CLI by the same test).
"""
import gzip
import json
import os
import shutil
import struct
import zlib

import numpy as np
import onnx
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
rng = np.random.default_rng(2026)
cases = []

for sub in ["folders", "arrays", "idx", "csv", "models"]:
    shutil.rmtree(os.path.join(HERE, sub), ignore_errors=True)
    os.makedirs(os.path.join(HERE, sub))


def case(id, data, what, exit, file=None, message=None, conversion=None, model=None, args=None):
    c = {"id": id, "data": data, "what": what, "exit": exit}
    if file:
        c["file"] = file
    if message:
        c["message"] = message
    if conversion:
        c["conversion"] = conversion
    if model:
        c["model"] = model
    if args:
        c["args"] = args
    cases.append(c)


def good_images(folder, n=4, size=40):
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(os.path.join(folder, f"g{i}.png"))


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def folder_case(id, name, write, what, exit, message=None, conversion=None, args=None):
    folder = os.path.join(HERE, "folders", id)
    good_images(folder)
    write(os.path.join(folder, name))
    case(id, f"folders/{id}", what, exit, file=name if exit == 2 else None, message=message, conversion=conversion, args=args)


def write_bytes(data):
    def w(path):
        with open(path, "wb") as f:
            f.write(data)
    return w


# --- Image folders: four good 40×40 RGB PNGs plus one odd file. -------------------------------
folder_case("zero-byte-image", "empty.png", write_bytes(b""), "a 0-byte .png in an image folder", 2, "empty file (0 bytes)")
folder_case("text-as-image", "notes.png", write_bytes(b"these are my notes, not a picture\n" * 3), "a text file named .png", 2, "cannot decode image")


def corrupt_png(path):
    img = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    img.save(path)
    b = bytearray(open(path, "rb").read())
    i = b.find(b"IDAT")
    b[i + 10] ^= 0xFF  # the zlib stream inside IDAT (and its CRC no longer matches)
    open(path, "wb").write(bytes(b))


folder_case("png-corrupt-chunk", "corrupt.png", corrupt_png, "a PNG whose IDAT chunk is corrupt (bad CRC, broken zlib stream)", 2, "cannot decode image")


def truncated_jpeg(path):
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path, quality=90)
    b = open(path, "rb").read()
    open(path, "wb").write(b[: len(b) // 2])


folder_case("jpeg-truncated", "cut.jpg", truncated_jpeg, "a JPEG cut in half", 2, "cannot decode image")


def huge_header_png(path):
    # A valid PNG signature and IHDR claiming 60000×60000 RGB, with one tiny IDAT.
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b"")
    open(path, "wb").write(data)


folder_case("png-huge-header", "huge.png", huge_header_png, "a 200-byte PNG whose header claims 60000×60000 pixels (a decompression bomb)", 2,
            "image would need about", args=["--max-memory", "4G"])
folder_case("one-pixel", "one.png", lambda p: Image.fromarray(rng.integers(0, 256, (1, 1, 3), dtype=np.uint8)).save(p),
            "a 1×1 RGB image", 0, conversion="legal: resized (upsampled) to the model's input like any other image")
folder_case("png-16-bit", "grey16.png", lambda p: Image.fromarray(rng.integers(0, 65536, (40, 40)).astype(np.uint16), mode="I;16").save(p),
            "a 16-bit greyscale PNG", 0, conversion="legal: libvips reduces 16-bit samples to 8 bits (v >> 8); grey becomes RGB for the model. PIL (torchvision) clips instead, so such files differ from torchvision")
folder_case("jpeg-cmyk", "cmyk.jpg", lambda p: Image.new("CMYK", (40, 40), (10, 200, 30, 5)).save(p, quality=95),
            "a CMYK JPEG", 0, conversion="legal: libvips converts CMYK to sRGB through its default CMYK profile; PIL's convert('RGB') uses 255−(C+K) and gives other pixel values")
folder_case("grey-alpha-and-palette", "palette.png", lambda p: Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).convert("P").save(p),
            "a palette PNG among RGB images", 0, conversion="legal: palette expanded to RGB")

# --- --max-memory: refused before loading (file size × 3) or before running (activations). ---
case("max-memory-model-file", "folders/one-pixel", "timm_vit (388 KiB) under --max-memory 1M: file size × 3 is over", 2,
     file="timm_vit_op17.onnx", message="model would need about", args=["--max-memory", "1M"])
case("max-memory-activations", "folders/one-pixel", "timm_vit at batch 4 under --max-memory 4M: its activations (≈13 MiB) are over", 2,
     file="timm_vit_op17.onnx", message="running this model on batches of 4", args=["--max-memory", "4M"])
case("max-memory-ample", "folders/one-pixel", "control: timm_vit at batch 4 under --max-memory 64M", 0,
     conversion="control", args=["--max-memory", "64M"])

# --- .npy arrays. -----------------------------------------------------------------------------


def npy_bytes(arr):
    import io
    f = io.BytesIO()
    np.save(f, arr)
    return f.getvalue()


good = rng.random((8, 16, 16, 3), dtype=np.float32)


def npy_case(id, data, what, exit, message=None, conversion=None):
    name = f"arrays/{id}.npy"
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    case(id, name, what, exit, file=f"{id}.npy" if exit == 2 else None, message=message, conversion=conversion)


raw = npy_bytes(good)
npy_case("npy-bad-magic", b"\x93NUMPX" + raw[6:], ".npy with a wrong magic string", 2, "not a .npy file (bad magic)")
hdr_len = struct.unpack("<H", raw[8:10])[0]
bad_dict = raw[:10] + b"{'descr': '<f4', 'fortran_order': False, 'shap': (8, 16, 16, 3), }".ljust(hdr_len - 1) + b"\n" + raw[10 + hdr_len:]
npy_case("npy-bad-header-dict", bad_dict, ".npy whose header dict lacks 'shape'", 2, "bad .npy header")
npy_case("npy-header-length", raw[:8] + struct.pack("<H", 60000) + raw[10:], ".npy whose header length points past the end", 2, "truncated .npy header")
npy_case("npy-short-data", raw[: len(raw) - 1000], ".npy with fewer data bytes than its shape needs", 2, "truncated .npy data")
npy_case("npy-wrong-dtype", npy_bytes(good.astype(np.complex64)), ".npy of complex64", 2, "unsupported .npy dtype")
npy_case("npy-wrong-rank", npy_bytes(good.reshape(8, -1)), ".npy of shape [8, 768] (not images)", 2, "image arrays must have shape")
nan = good.copy()
nan[3, 5, 5, 1] = np.nan
npy_case("npy-nan-pixels", npy_bytes(nan), "float32 images with one NaN pixel (NaN activations)", 2, "non-finite pixel")
inf = good.copy()
inf[6, 0, 0, 0] = np.inf
npy_case("npy-inf-pixels", npy_bytes(inf), "float32 images with one +Inf pixel", 2, "non-finite pixel")
npy_case("npy-uint8-ok", npy_bytes((good * 255).astype(np.uint8)), "control: uint8 NHWC images", 0, conversion="control")

# --- IDX. -------------------------------------------------------------------------------------
idx = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">III", 8, 28, 28) + rng.integers(0, 256, 8 * 28 * 28, dtype=np.uint8).tobytes()
with open(os.path.join(HERE, "idx/short-idx3-ubyte"), "wb") as f:
    f.write(idx[:-100])
case("idx-truncated", "idx/short-idx3-ubyte", "IDX images with 100 bytes missing", 2, file="short-idx3-ubyte", message="truncated IDX data")
with open(os.path.join(HERE, "idx/bad-gzip-idx3-ubyte.gz"), "wb") as f:
    f.write(gzip.compress(idx)[:200])
case("idx-bad-gzip", "idx/bad-gzip-idx3-ubyte.gz", "a gzip stream cut after 200 bytes", 2, file="bad-gzip-idx3-ubyte.gz", message="corrupt gzip stream")

# --- CSV manifests. ---------------------------------------------------------------------------
good_images(os.path.join(HERE, "csv", "img"))
with open(os.path.join(HERE, "csv/missing.csv"), "w") as f:
    f.write("path,label\nimg/g0.png,a\nimg/g1.png,b\nimg/g2.png,a\nimg/nope.png,b\n")
case("csv-missing-file", "csv/missing.csv", "a CSV manifest naming an image that does not exist", 2, file="nope.png", message="no such file")

# --- Hostile names (security): a model whose node and tensor names are HTML/JS, and an
# ImageFolder whose class names are. Expected to run (exit 0); tests/security-report.test.ts
# opens the report in Chromium and checks no script runs and the names show as text.
HOSTILE = ["<img src=x onerror=alert(1)>", "</script><script>alert(1)</script>", "\"'><svg onload=alert(1)>", "../../../etc/passwd"]
m = onnx.load(os.path.join(ROOT, "fixtures/models/timm_vit_op17.onnx"))
g = m.graph
keep = {i.name for i in g.input} | {o.name for o in g.output} | {t.name for t in g.initializer}
rename = {}
k = 0
for n in g.node:
    n.name = f"{HOSTILE[k % len(HOSTILE)]}#{k}"
    for o in n.output:
        if o and o not in keep and o not in rename:
            rename[o] = f"{HOSTILE[k % 2]}/{o}"
    k += 1
for n in g.node:
    for i, x in enumerate(n.input):
        if x in rename:
            n.input[i] = rename[x]
    for i, x in enumerate(n.output):
        if x in rename:
            n.output[i] = rename[x]
for v in g.value_info:
    if v.name in rename:
        v.name = rename[v.name]
m.producer_name = HOSTILE[1]
onnx.save(m, os.path.join(HERE, "models/hostile-names.onnx"))
hostile_data = os.path.join(HERE, "folders", "hostile-classes")
for c in [HOSTILE[0], HOSTILE[1], "..", "a\"b'c&d"]:
    if c == "..":
        continue
    good_images(os.path.join(hostile_data, c.replace("/", "∕")), n=4)
case("hostile-names", "folders/hostile-classes", "a ViT whose node/tensor names are HTML/JS, on an ImageFolder with HTML/JS class names", 0,
     model="models/hostile-names.onnx", conversion="legal: names are escaped in the report and slugged in file names (tests/security-report.test.ts)")

with open(os.path.join(HERE, "manifest.json"), "w") as f:
    json.dump({"made_by": "tests/bad-inputs/make.py", "model": "fixtures/models/timm_vit_op17.onnx",
               "command": "seelike analyze MODEL --data DATA --batch 4 --analyses cka --quiet --out OUT [args]",
               "cases": cases}, f, indent=1, ensure_ascii=False)
print(f"{len(cases)} cases")
