"""Test helpers: small synthetic tagged sequences, written as real DICOM (pydicom) and NIfTI (nibabel)
files, and a small deterministic model checkpoint, shared by the input/output tests."""
from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import EnhancedMRImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from deeptag.checkpoint import save_checkpoint
from deeptag.model import DeepTagNet

SPACING = (1.5, 1.25)  # (row, column) mm
ORIENTATION = (0.0, 1.0, 0.0, 0.6, 0.0, -0.8)  # an oblique plane: along a row, then down a column (LPS)
POSITION = (-40.0, -30.0, 20.0)  # LPS mm of the centre of the top-left pixel


def tagged_sequence(frames: int = 5, height: int = 64, width: int = 64, seed: int = 0) -> np.ndarray:
    """(T, H, W) uint16 frames of a tag grid whose central disc contracts and twists over time."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width].astype(float)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    radius = np.hypot(rows - cy, cols - cx)
    out = []
    for t in range(frames):
        phase = np.sin(np.pi * t / max(frames - 1, 1))
        weight = np.exp(-(radius / (0.3 * min(height, width))) ** 2)
        scale = 1 + 0.12 * phase * weight
        angle = 0.08 * phase * weight
        dy, dx = (rows - cy) * scale, (cols - cx) * scale
        src_y = cy + dy * np.cos(angle) - dx * np.sin(angle)
        src_x = cx + dy * np.sin(angle) + dx * np.cos(angle)
        tags = (1 + np.cos(2 * np.pi * src_x / 7)) * (1 + np.cos(2 * np.pi * src_y / 7))
        out.append(200 + 150 * tags * (1 - 0.05 * t) + rng.normal(0, 5, (height, width)))
    return np.clip(np.stack(out), 0, 4000).astype(np.uint16)


def _dicom_dataset(sop_class: str, series_uid: str, description: str, series_number: int) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.PatientName = "Test^Phantom"
    ds.PatientID = "deeptag-test"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesDescription = description
    ds.SeriesNumber = series_number
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    return ds


def write_dicom_series(folder: Path, images: np.ndarray, times: np.ndarray | None = None,
                       series_uid: str | None = None, description: str = "tagging SA",
                       series_number: int = 7, seed: int = 0, position=POSITION) -> list[Path]:
    """One single-frame MR file per frame, under shuffled random names; instance numbers follow time."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    times = np.arange(len(images)) * 40.0 if times is None else times
    names = np.random.default_rng(seed).permutation(len(images))
    paths = []
    for t, frame in enumerate(images):
        ds = _dicom_dataset(MRImageStorage, series_uid, description, series_number)
        ds.InstanceNumber = t + 1
        ds.TriggerTime = float(times[t])
        ds.ImagePositionPatient = list(position)
        ds.ImageOrientationPatient = list(ORIENTATION)
        ds.PixelSpacing = list(SPACING)
        ds.SliceThickness = 8.0
        ds.Rows, ds.Columns = frame.shape
        ds.PixelData = np.ascontiguousarray(frame, dtype=np.uint16).tobytes()
        path = folder / f"IM{names[t] * 37 % 1000:04d}_{seed}"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_enhanced_dicom(path: Path, images: np.ndarray, times: np.ndarray | None = None, seed: int = 0) -> None:
    """One enhanced multi-frame MR file holding the frames in a shuffled order, timed per frame."""
    times = np.arange(len(images)) * 40.0 if times is None else times
    order = np.random.default_rng(seed).permutation(len(images))
    ds = _dicom_dataset(EnhancedMRImageStorage, generate_uid(), "enhanced tagging", 9)
    ds.InstanceNumber = 1
    ds.NumberOfFrames = len(images)
    ds.Rows, ds.Columns = images.shape[1:]
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = list(SPACING)
    measures.SliceThickness = 8.0
    shared.PixelMeasuresSequence = DicomSequence([measures])
    plane = Dataset()
    plane.ImageOrientationPatient = list(ORIENTATION)
    shared.PlaneOrientationSequence = DicomSequence([plane])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = []
    for t in order:
        item = Dataset()
        position = Dataset()
        position.ImagePositionPatient = list(POSITION)
        item.PlanePositionSequence = DicomSequence([position])
        sync = Dataset()
        sync.NominalCardiacTriggerDelayTime = float(times[t])
        item.CardiacSynchronizationSequence = DicomSequence([sync])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    ds.PixelData = np.ascontiguousarray(images[order], dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def write_nifti(path: Path, images: np.ndarray, spacing=SPACING, frame_ms: float | None = 40.0,
                affine: np.ndarray | None = None) -> None:
    """2D+t (T, H, W) or 3D+t (Z, T, H, W) frames as NIfTI ``data[column, row, slice, t]``."""
    stack = images[None] if images.ndim == 3 else images
    data = stack.transpose(3, 2, 0, 1)  # (W, H, Z, T)
    affine = np.diag([spacing[1], spacing[0], 8.0, 1.0]) if affine is None else affine
    image = nib.Nifti1Image(data, affine)
    if frame_ms is not None:
        image.header.set_xyzt_units("mm", "msec")
        zooms = list(image.header.get_zooms())
        image.header.set_zooms(zooms[:3] + [frame_ms])
    nib.save(image, path)


def write_npz(path: Path, images: np.ndarray, spacing=SPACING, times: np.ndarray | None = None) -> None:
    times = np.arange(len(images)) * 40.0 if times is None else times
    np.savez(path, images=images.astype(np.float32), spacing=np.array(spacing), frame_times=times)


@pytest.fixture(scope="session")
def model_path(tmp_path_factory) -> Path:
    """A fresh DeepTagNet whose velocity head has small random weights (seed 0), so fields are non-zero."""
    model = DeepTagNet()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.flow_mean.weight.copy_(torch.randn(model.flow_mean.weight.shape, generator=generator) * 0.5)
        model.flow_mean.bias.copy_(torch.randn(model.flow_mean.bias.shape, generator=generator) * 0.5)
    path = tmp_path_factory.mktemp("model") / "random_head.pt"
    save_checkpoint(path, model)
    return path
