"""Minimal safetensors writer/reader (8-byte little-endian header length, JSON header, raw little-endian data)."""
import json
import struct

import numpy as np


def save(path, tensors, metadata=None):
    """Writes float32 tensors (name -> torch tensor or numpy array), keys sorted as the safetensors package does."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        a = a.detach().cpu().contiguous().numpy() if hasattr(a, "detach") else np.asarray(a)
        a = np.ascontiguousarray(a.astype("<f4"))
        raw = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)   # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def load(path):
    """Reads an F32 safetensors file into numpy arrays."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        assert h["dtype"] == "F32", name
        a, b = h["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(h["shape"]).copy()
    return out
