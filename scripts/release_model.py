"""Put a trained model into the package: the model, its ONNX graphs, thumbnails, and checks.

    python scripts/release_model.py runs/zoo/model.safetensors [--style-images ../shared/data/style]

Writes src/stylecast/zoo/default.safetensors (each style with its painting's palette), default.onnx
(stamped with the model's G digest), and a 160 px thumbnail of each style's painting in
src/stylecast/zoo/thumbnails/. Prints the bf16 engine's PSNR against fp32 on the sample set: reduced
precision is offered only at >= 35 dB.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from PIL import Image

from stylecast.modelfile import model_digest, read_metadata
from stylecast.models.export import export_onnx
from stylecast.models.io import load_stylenet
from stylecast.runtime.bench import precision_psnr
from stylecast.styling.painting import write_palettes

ZOO = Path(__file__).resolve().parents[1] / "src" / "stylecast" / "zoo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--style-images", default="../shared/data/style")
    args = parser.parse_args()

    target = ZOO / "default.safetensors"
    shutil.copyfile(args.model, target)
    if not all(style.get("palette") for style in read_metadata(target)["styles"]):
        write_palettes(target, args.style_images)   # a model trained before palettes existed
    digest = model_digest(target)
    net, meta = load_stylenet(target)
    export_onnx(net.generator, ZOO / "default.onnx", digest=digest)

    thumbs = ZOO / "thumbnails"
    thumbs.mkdir(exist_ok=True)
    for style in read_metadata(target)["styles"]:
        painting = Path(args.style_images) / style.get("extra", {}).get("image", "")
        if painting.is_file():
            with Image.open(painting) as image:
                image = image.convert("RGB")
                image.thumbnail((160, 160), Image.Resampling.LANCZOS)
                image.save(thumbs / f"{style['name']}.jpg", quality=88)
        else:
            print(f"no painting for {style['name']} at {painting}: no thumbnail")
    scores = precision_psnr(str(target), "torch", "bf16")
    print(f"model {digest[:12]}: {len(meta['styles'])} styles; bf16 PSNR vs fp32 (dB): {scores}")
    print(f"bf16 mean {sum(scores.values()) / len(scores):.2f} dB, min {min(scores.values()):.2f} dB (needs >= 35)")


if __name__ == "__main__":
    main()
