"""Reading every supported format: frames, order, spacing, frame times and geometry, exactly."""
from __future__ import annotations

import imageio.v3 as iio
import nibabel as nib
import numpy as np
import pydicom
import pytest
import tifffile
from io_helpers import (ORIENTATION, POSITION, SPACING, tagged_sequence, write_dicom_series, write_enhanced_dicom,
                        write_nifti, write_npz)

from deeptag.errors import InputError
from deeptag.io import read_sequence, read_slices
from deeptag.outputs import write_nifti_frames

IMAGES = tagged_sequence(frames=5, height=40, width=48)


def dicom_world(row: float, column: float) -> np.ndarray:
    """RAS+ position of a pixel of the test series, straight from the DICOM definition (LPS+)."""
    along_row, along_column = np.array(ORIENTATION[:3]), np.array(ORIENTATION[3:])
    lps = np.array(POSITION) + column * SPACING[1] * along_row + row * SPACING[0] * along_column
    return lps * np.array([-1, -1, 1])


def test_dicom_series_is_ordered_by_trigger_time_whatever_the_file_names(tmp_path):
    order = np.array([3, 0, 4, 1, 2])  # files written in this order, with instance numbers 1..5
    times = np.array([0.0, 35.5, 71.0, 106.5, 142.0])
    write_dicom_series(tmp_path / "series", IMAGES[order], times=times[order])
    sequence = read_sequence(tmp_path / "series")
    np.testing.assert_array_equal(sequence.images, IMAGES.astype(np.float32))
    np.testing.assert_allclose(sequence.frame_times, times)
    assert sequence.spacing == SPACING
    assert sequence.metadata["format"] == "dicom"


def test_dicom_without_trigger_times_is_ordered_by_instance_number(tmp_path):
    paths = write_dicom_series(tmp_path / "series", IMAGES)
    for path in paths:
        dataset = pydicom.dcmread(path)
        del dataset.TriggerTime
        dataset.save_as(path)
    sequence = read_sequence(tmp_path / "series")
    np.testing.assert_array_equal(sequence.images, IMAGES.astype(np.float32))
    assert sequence.frame_times is None


def test_dicom_affine_places_every_pixel_where_the_headers_say(tmp_path):
    write_dicom_series(tmp_path / "series", IMAGES)
    affine = read_sequence(tmp_path / "series").affine
    for row, column in [(0, 0), (0, 47), (39, 0), (17, 23)]:
        np.testing.assert_allclose((affine @ [column, row, 0, 1])[:3], dicom_world(row, column), atol=1e-9)


def test_dicom_rescale_slope_and_intercept_are_applied(tmp_path):
    paths = write_dicom_series(tmp_path / "series", IMAGES)
    for path in paths:
        dataset = pydicom.dcmread(path)
        dataset.RescaleSlope, dataset.RescaleIntercept = 0.5, -10
        dataset.save_as(path)
    np.testing.assert_allclose(read_sequence(tmp_path / "series").images, IMAGES * 0.5 - 10)


def test_dicom_monochrome1_is_inverted_to_show_as_stored(tmp_path):
    for path in write_dicom_series(tmp_path / "series", IMAGES):
        dataset = pydicom.dcmread(path)
        dataset.PhotometricInterpretation = "MONOCHROME1"
        dataset.save_as(path)
    np.testing.assert_array_equal(read_sequence(tmp_path / "series").images, IMAGES.max() - IMAGES.astype(np.float32))


def test_dicom_folder_skips_files_that_are_not_dicom(tmp_path):
    write_dicom_series(tmp_path / "series", IMAGES)
    (tmp_path / "series" / "README").write_text("exported from the scanner\n")
    assert read_sequence(tmp_path / "series").num_frames == len(IMAGES)


def test_dicom_folder_with_two_series_is_refused_with_a_list_then_narrowed(tmp_path):
    write_dicom_series(tmp_path / "study", IMAGES, series_uid="1.2.3.4", description="tagging SA", series_number=7)
    write_dicom_series(tmp_path / "study" / "cine", IMAGES[:3, :32, :36], series_uid="1.2.3.5",
                       description="cine", series_number=8, seed=1)
    with pytest.raises(InputError) as error:
        read_sequence(tmp_path / "study")
    message = str(error.value)
    assert "--series" in message
    assert "1.2.3.4 (#7 'tagging SA', 5 frames, 40x48)" in message
    assert "1.2.3.5 (#8 'cine', 3 frames, 32x36)" in message
    assert read_sequence(tmp_path / "study", series="1.2.3.5").images.shape == (3, 32, 36)
    assert read_sequence(tmp_path / "study", series="7").images.shape == (5, 40, 48)  # by series number
    with pytest.raises(InputError, match="no DICOM series '9.9'"):
        read_sequence(tmp_path / "study", series="9.9")


def test_enhanced_multiframe_dicom_is_ordered_by_its_per_frame_trigger_delay(tmp_path):
    times = np.array([5.0, 45.0, 85.0, 125.0, 165.0])
    write_enhanced_dicom(tmp_path / "enhanced.dcm", IMAGES, times=times)
    sequence = read_sequence(tmp_path / "enhanced.dcm")
    np.testing.assert_array_equal(sequence.images, IMAGES.astype(np.float32))
    np.testing.assert_allclose(sequence.frame_times, times)
    assert sequence.spacing == SPACING
    np.testing.assert_allclose((sequence.affine @ [3, 2, 0, 1])[:3], dicom_world(2, 3))


def test_multi_slice_dicom_series_is_read_slice_by_slice_along_the_normal(tmp_path):
    normal = np.cross(ORIENTATION[:3], ORIENTATION[3:])
    apical = np.array(POSITION) + 10 * normal
    write_dicom_series(tmp_path / "stack", IMAGES[:, ::-1], series_uid="1.2.3.9", position=apical, seed=1)
    write_dicom_series(tmp_path / "stack", IMAGES, series_uid="1.2.3.9", seed=2)
    with pytest.raises(InputError, match="2 slices"):
        read_sequence(tmp_path / "stack")
    slices = read_slices(tmp_path / "stack")
    np.testing.assert_array_equal(slices[0].images, IMAGES.astype(np.float32))
    np.testing.assert_array_equal(slices[1].images, IMAGES[:, ::-1].astype(np.float32))
    np.testing.assert_allclose(slices[1].affine[:3, 3], apical * [-1, -1, 1])


def test_nifti_2d_t_follows_the_orientation_rule(tmp_path):
    write_nifti(tmp_path / "cine.nii.gz", IMAGES, spacing=(1.5, 1.25), frame_ms=38.0)
    data = np.asanyarray(nib.load(tmp_path / "cine.nii.gz").dataobj)
    sequence = read_sequence(tmp_path / "cine.nii.gz")
    assert sequence.images[2, 7, 30] == data[30, 7, 0, 2]  # frame[row, column] = data[column, row, 0, t]
    np.testing.assert_array_equal(sequence.images, IMAGES.astype(np.float32))
    assert sequence.spacing == (1.5, 1.25)
    np.testing.assert_allclose(sequence.frame_times, np.arange(5) * 38.0)


def test_nifti_3d_with_time_as_third_axis_has_no_frame_times(tmp_path):
    nib.save(nib.Nifti1Image(IMAGES.transpose(2, 1, 0), np.diag([1.25, 1.5, 40.0, 1.0])), tmp_path / "cine.nii")
    sequence = read_sequence(tmp_path / "cine.nii")
    np.testing.assert_array_equal(sequence.images, IMAGES.astype(np.float32))
    assert sequence.frame_times is None


def test_nifti_3d_t_stack_needs_a_slice_and_each_slice_keeps_its_place(tmp_path):
    stack = np.stack([IMAGES, IMAGES[:, ::-1], IMAGES[:, :, ::-1]])
    affine = np.array([[0, -1.25, 0, 30], [1.5, 0, 0, -20], [0, 0, 8, 5], [0, 0, 0, 1.0]])
    write_nifti(tmp_path / "stack.nii.gz", stack, affine=affine)
    with pytest.raises(InputError, match="--slice K"):
        read_sequence(tmp_path / "stack.nii.gz")
    with pytest.raises(InputError, match="no slice 3"):
        read_sequence(tmp_path / "stack.nii.gz", slice_index=3)
    second = read_sequence(tmp_path / "stack.nii.gz", slice_index=2)
    np.testing.assert_array_equal(second.images, stack[2].astype(np.float32))
    np.testing.assert_allclose(second.affine @ [4, 3, 0, 1], affine @ [4, 3, 2, 1])
    assert [s.metadata["slice_index"] for s in read_slices(tmp_path / "stack.nii.gz")] == [0, 1, 2]


def test_written_nifti_reads_back_exactly_with_its_geometry(tmp_path):
    maps = np.random.default_rng(1).normal(size=(4, 40, 48)).astype(np.float32)
    affine = np.array([[0, -1.25, 0, 30], [1.5, 0, 0, -20], [0, 0, 8, 5], [0, 0, 0, 1.0]])
    write_nifti_frames(tmp_path / "maps.nii.gz", maps, affine, interval_ms=40.0)
    back = read_sequence(tmp_path / "maps.nii.gz")
    np.testing.assert_array_equal(back.images, maps)
    np.testing.assert_allclose(back.affine, affine)
    np.testing.assert_allclose(back.frame_times, np.arange(4) * 40.0)


def test_npz_tiff_gif_and_png_frames_give_the_same_frames(tmp_path):
    frames = (IMAGES // 16).astype(np.uint8)
    write_npz(tmp_path / "a.npz", frames)
    tifffile.imwrite(tmp_path / "a.tif", frames)
    iio.imwrite(tmp_path / "a.gif", frames, loop=0)
    (tmp_path / "frames").mkdir()
    for t, frame in enumerate(frames):  # frame_10 sorts after frame_9 by its number, not its letters
        iio.imwrite(tmp_path / "frames" / f"frame_{t * 5}.png", frame)
    for name in ("a.npz", "a.tif", "a.gif", "frames"):
        np.testing.assert_array_equal(read_sequence(tmp_path / name).images, frames.astype(np.float32), err_msg=name)


def test_colour_frames_become_grey_levels(tmp_path):
    grey = (IMAGES // 16).astype(np.uint8)
    rgb = np.stack([grey, grey // 2, grey // 4], axis=-1)
    tifffile.imwrite(tmp_path / "colour.tif", rgb, photometric="rgb")
    expected = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    np.testing.assert_allclose(read_sequence(tmp_path / "colour.tif").images, expected, atol=1e-3)
