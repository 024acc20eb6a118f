"""``deeptag train`` reads every format ``deeptag track`` reads (issue 24): a DICOM folder is one
sequence, a folder of .npz files is many, NIfTI and TIFF files are sequences."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch

from deeptag.cli import main
from deeptag.model import ModelConfig
from deeptag.train import expand_inputs, load_frames
from io_helpers import tagged_sequence, write_dicom_series, write_nifti, write_npz


@pytest.fixture
def inputs(tmp_path):
    """The same 5 frames as a DICOM series, a NIfTI file and a TIFF stack, and a folder of two .npz files."""
    images = tagged_sequence(frames=5, height=48, width=48)
    write_dicom_series(tmp_path / "dicom", images)
    write_nifti(tmp_path / "scan.nii.gz", images)
    tifffile.imwrite(tmp_path / "scan.tif", images)
    (tmp_path / "sims").mkdir()
    for name in ("b", "a"):
        write_npz(tmp_path / "sims" / f"{name}.npz", images)
    return tmp_path


def test_a_dicom_folder_is_one_sequence_and_a_folder_of_npz_many(inputs):
    given = [inputs / "dicom", inputs / "scan.nii.gz", inputs / "scan.tif", inputs / "sims"]
    assert expand_inputs(given) == [inputs / "dicom", inputs / "scan.nii.gz", inputs / "scan.tif",
                                    inputs / "sims" / "a.npz", inputs / "sims" / "b.npz"]


def test_every_format_gives_the_same_network_frames(inputs):
    config = ModelConfig(image_size=32)
    reference = load_frames(inputs / "sims" / "a.npz", 6, config)
    assert reference.shape == (6, 1, 32, 32)
    for path in ("dicom", "scan.nii.gz", "scan.tif"):
        torch.testing.assert_close(load_frames(inputs / path, 6, config), reference, atol=1e-5, rtol=0)


def test_train_runs_on_a_dicom_folder_and_a_nifti_file(inputs, capsys):
    out = inputs / "run"
    assert main(["train", str(inputs / "dicom"), str(inputs / "scan.nii.gz"), "--out", str(out), "--steps", "1",
                 "--image-size", "32", "--validate-every", "1", "--checkpoint-every", "1", "--quiet"]) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in log] == [1] and np.isfinite(log[0]["validation"])
    assert (out / "best.pt").is_file()


def test_an_unreadable_folder_is_refused_before_training(inputs, capsys):
    (inputs / "notes").mkdir()
    (inputs / "notes" / "readme.txt").write_text("not a scan")
    out = inputs / "run"
    assert main(["train", str(inputs / "dicom"), str(inputs / "notes"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{inputs / 'notes'}: holds no .npz sequences" in err[0]
    assert not out.exists()
