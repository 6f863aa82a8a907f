"""Reads a log folder with TensorBoard's own loader and checks it against a spec.

    build/venv/bin/python tests/summary/tb_check.py SPEC.json

Run by tests/summary/tensorboard_compat_test.cc with the venv that scripts/venv creates
(TensorBoard from PyPI, pinned in scripts/venv-requirements.txt). The spec (JSON) says
what the C++ side wrote:

    {"logdir": "...", "epochs": 3,
     "scalars": {"loss": [0.9, 0.5, 0.3], "lr": null, ...},  # null: any values
     "exact_scalar_tags": true,      # no scalar tags beyond those listed
     "histograms": {"weights/0.weight": 48, ...},           # tag -> values per histogram
     "images": {"test_images": [112, 112]},                 # tag -> [width, height]
     "texts": {"note": "hello"},                            # tag -> text (null: any)
     "hparams": ["lr", "batch_size"],                       # names in session_start_info
     "graph": [["input", "Input", []], ["Sequential/0", "Linear", ["input"]], ...]}

Every scalar tag must hold one value per epoch, at steps 0 .. epochs-1. Prints one line
of figures and exits 0, or lists every mismatch and exits 1.
"""
import json
import math
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2


def main(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    epochs = spec["epochs"]
    # size_guidance 0: keep every event (the default samples some kinds down).
    ea = EventAccumulator(spec["logdir"], size_guidance={
        "scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    ea.Reload()
    tags = ea.Tags()
    errors = []

    want_scalars = spec.get("scalars", {})
    have_scalars = set(tags["scalars"])
    if spec.get("exact_scalar_tags") and have_scalars != set(want_scalars):
        errors.append(f"scalar tags: expected {sorted(want_scalars)}, got {sorted(have_scalars)}")
    for tag in sorted(have_scalars | set(want_scalars)):
        if tag not in have_scalars:
            errors.append(f"scalar '{tag}': missing")
            continue
        events = ea.Scalars(tag)
        steps = [e.step for e in events]
        if steps != list(range(epochs)):
            errors.append(f"scalar '{tag}': steps {steps}, expected one per epoch 0..{epochs - 1}")
        want = want_scalars.get(tag)
        if want is not None:
            got = [e.value for e in events]
            if len(got) != len(want) or any(
                    not math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-7) for g, w in zip(got, want)):
                errors.append(f"scalar '{tag}': values {got}, expected {want}")

    for tag, num in spec.get("histograms", {}).items():
        if tag not in tags["histograms"]:
            errors.append(f"histogram '{tag}': missing")
            continue
        events = ea.Histograms(tag)
        if [e.step for e in events] != list(range(epochs)):
            errors.append(f"histogram '{tag}': steps {[e.step for e in events]}")
        for e in events:
            h = e.histogram_value
            if h.num != num or sum(h.bucket) != num or not h.min <= h.max:
                errors.append(f"histogram '{tag}' step {e.step}: num {h.num}, buckets sum to "
                              f"{sum(h.bucket)}, expected {num}")

    for tag, (width, height) in spec.get("images", {}).items():
        if tag not in tags["images"]:
            errors.append(f"image '{tag}': missing")
            continue
        for e in ea.Images(tag):
            if (e.width, e.height) != (width, height):
                errors.append(f"image '{tag}': {e.width}x{e.height}, expected {width}x{height}")
            if not e.encoded_image_string.startswith(b"\x89PNG\r\n\x1a\n"):
                errors.append(f"image '{tag}': not a PNG")

    for tag, text in spec.get("texts", {}).items():
        if tag not in tags["tensors"]:
            errors.append(f"text '{tag}': missing")
            continue
        got = ea.Tensors(tag)[0].tensor_proto.string_val[0].decode()
        if text is not None and got != text:
            errors.append(f"text '{tag}': {got!r}, expected {text!r}")

    if "hparams" in spec:
        content = ea.PluginTagToContent("hparams")
        start = content.get("_hparams_/session_start_info")
        if start is None:
            errors.append(f"hparams: no session_start_info (have {sorted(content)})")
        else:
            data = plugin_data_pb2.HParamsPluginData.FromString(start)
            names = sorted(data.session_start_info.hparams.keys())
            if names != sorted(spec["hparams"]):
                errors.append(f"hparams: {names}, expected {sorted(spec['hparams'])}")
        if "_hparams_/experiment" not in content:
            errors.append("hparams: no experiment record")

    if "graph" in spec:
        if not tags["graph"]:
            errors.append("graph: none")
        else:
            got = [[n.name, n.op, list(n.input)] for n in ea.Graph().node]
            if got != spec["graph"]:
                errors.append(f"graph: {got}, expected {spec['graph']}")

    if errors:
        print("TensorBoard's EventAccumulator disagrees:")
        for e in errors:
            print("  " + e)
        return 1
    print(f"EventAccumulator: {len(have_scalars)} scalar tags x {epochs} epochs, "
          f"{len(tags['histograms'])} histogram tags, {len(tags['images'])} image tags, "
          f"{len(tags['tensors'])} tensor tags"
          + (f", a graph of {len(ea.Graph().node)} nodes" if tags["graph"] else "") + ": all as written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
