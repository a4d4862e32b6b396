"""The built-in demo runs end to end, explains the lesion, and writes PNG overlays."""
import os

from PIL import Image

from fastxai.demo.run import main


def test_demo_finds_the_lesion(tmp_path) -> None:
    results = main(str(tmp_path), n_images=4)
    assert results, "no method ran"
    # the synthetic lesion is the only evidence for class 1: occlusion must point at it
    assert results["Occlusion 4x4/2"] >= 0.75
    pngs = [f for f in os.listdir(tmp_path) if f.endswith(".png")]
    assert len(pngs) >= 3 * 4
    assert Image.open(tmp_path / pngs[0]).size == (128, 128)
