"""Decoding and preprocessing: PNG (8/16 bit), DICOM (MONOCHROME1, windowing, VOI LUT), NIfTI."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fastxai.bench.imageio import apply_window, image_size, read_image


def test_png_scaled_resized_normalised(tmp_path):
    from PIL import Image

    arr = np.zeros((20, 40), np.uint8)
    arr[:, 20:] = 255
    Image.fromarray(arr).save(tmp_path / "a.png")
    assert image_size(str(tmp_path / "a.png")) == (20, 40)
    x = read_image(str(tmp_path / "a.png"), (10, 20), 1, [0.5], [0.5])
    assert x.shape == (1, 10, 20)
    assert torch.allclose(x[0, :, 0], torch.full((10,), -1.0)) and torch.allclose(x[0, :, -1], torch.ones(10))
    x3 = read_image(str(tmp_path / "a.png"), (20, 40), 3, [0.0], [1.0])
    assert x3.shape == (3, 20, 40) and torch.equal(x3[0], x3[2])


def test_png_16_bit(tmp_path):
    from PIL import Image

    arr = np.full((8, 8), 65535, np.uint16)
    arr[0, 0] = 0
    Image.fromarray(arr).save(tmp_path / "b.png")
    x = read_image(str(tmp_path / "b.png"), (8, 8), 1, [0.0], [1.0])
    assert float(x[0, 0, 0]) == 0.0 and float(x[0, 1, 1]) == pytest.approx(1.0)


def test_jpeg_rgb_to_one_channel(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((16, 24, 3), 200, np.uint8)).save(tmp_path / "c.jpg", quality=95)
    assert image_size(str(tmp_path / "c.jpg")) == (16, 24)
    x = read_image(str(tmp_path / "c.jpg"), (8, 12), 1, [0.0], [1.0])
    assert x.shape == (1, 8, 12) and torch.allclose(x, torch.full_like(x, 200 / 255), atol=2 / 255)


def test_missing_and_corrupt_files_raise(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_image(str(tmp_path / "nope.png"), (8, 8), 1, [0.0], [1.0])
    (tmp_path / "bad.png").write_bytes(b"garbage")
    with pytest.raises(Exception):
        read_image(str(tmp_path / "bad.png"), (8, 8), 1, [0.0], [1.0])


def _dicom(path, pixels, photometric="MONOCHROME2", window=None, voi_lut=None):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "SECRET-123", "19700101"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    if voi_lut is not None:
        item = pydicom.Dataset()
        item.LUTDescriptor = [len(voi_lut), 0, 16]
        item.LUTData = np.asarray(voi_lut, np.uint16).tobytes()
        ds.VOILUTSequence = pydicom.Sequence([item])
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


def test_dicom_monochrome1_is_inverted(tmp_path):
    pix = np.array([[0, 1000], [2000, 4000]], np.uint16)
    p2 = _dicom(tmp_path / "m2.dcm", pix)
    p1 = _dicom(tmp_path / "m1.dcm", pix, "MONOCHROME1")
    assert image_size(str(p1)) == (2, 2)
    a = read_image(str(p2), (2, 2), 1, [0.0], [1.0], window="none")
    b = read_image(str(p1), (2, 2), 1, [0.0], [1.0], window="none")
    assert torch.allclose(a, 1 - b) and float(a[0, 1, 1]) == 1.0 and float(a[0, 0, 0]) == 0.0
    c = read_image(str(p1), (2, 2), 1, [0.0], [1.0], window="none", invert_monochrome1=False)
    assert torch.allclose(a, c)


def test_dicom_window_from_header_and_config(tmp_path):
    pix = np.array([[0, 1000], [2000, 4000]], np.uint16)
    p = _dicom(tmp_path / "w.dcm", pix, window=(1000, 1000))
    x = read_image(str(p), (2, 2), 1, [0.0], [1.0], window="auto")
    expect = torch.from_numpy(apply_window(pix.astype(np.float64), 1000, 1000)).float()
    assert torch.allclose(x[0], expect) and float(x[0, 0, 1]) == 0.5
    y = read_image(str(p), (2, 2), 1, [0.0], [1.0], window=(2000, 4000))
    assert float(y[0, 0, 0]) == 0.0 and float(y[0, 1, 0]) == 0.5


def test_dicom_voi_lut(tmp_path):
    pix = np.array([[0, 1], [2, 3]], np.uint16)
    p = _dicom(tmp_path / "v.dcm", pix, voi_lut=[0, 100, 300, 400])
    x = read_image(str(p), (2, 2), 1, [0.0], [1.0], window="auto")
    assert torch.allclose(x[0], torch.tensor([[0.0, 0.25], [0.75, 1.0]]))


def test_dicom_identifying_fields_never_reach_the_run(tmp_path):
    """Only pixels come back: the tensor carries no header and the dataset tables hold paths only."""
    pix = np.arange(16, dtype=np.uint16).reshape(4, 4)
    p = _dicom(tmp_path / "id.dcm", pix)
    x = read_image(str(p), (4, 4), 1, [0.0], [1.0])
    assert isinstance(x, torch.Tensor) and not hasattr(x, "PatientName")


def test_nifti_middle_slice(tmp_path):
    nib = pytest.importorskip("nibabel")
    vol = np.zeros((6, 4, 3), np.float32)  # (x, y, z)
    vol[5, 0, 1] = 10.0
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / "v.nii.gz"))
    assert image_size(str(tmp_path / "v.nii.gz")) == (4, 6)
    x = read_image(str(tmp_path / "v.nii.gz"), (4, 6), 1, [0.0], [1.0])
    assert x.shape == (1, 4, 6) and float(x[0, 0, 5]) == 1.0 and float(x.sum()) == 1.0
