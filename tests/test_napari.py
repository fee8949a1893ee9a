"""The napari plugin: reader and writer keep the voxel size, the restoration widget runs a method end to
end in a worker thread and can be cancelled, the validation widget fills its table."""

import os
from pathlib import Path

import pytest

napari = pytest.importorskip("napari")

from axialsr import api  # noqa: E402
from axialsr.frontends.napari._reader import get_reader  # noqa: E402
from axialsr.frontends.napari._widget import RestoreWidget, ValidateWidget  # noqa: E402
from axialsr.frontends.napari._writer import write_image  # noqa: E402
from axialsr.io import read_volume, write_volume  # noqa: E402

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "napari_widget.png"
needs_display = pytest.mark.skipif(
    "os.environ.get('QT_QPA_PLATFORM') == 'offscreen'", reason="napari's canvas needs a (virtual) X display: Xvfb"
)


@pytest.fixture(scope="module")
def measured():
    truth = api.synth("em", (32, 48, 48), seed=1)
    return api.simulate_acquisition(truth, api.Acquisition(4))  # (8, 48, 48), voxel (32, 8, 8) nm


def test_reader_gives_layers_with_the_voxel_size_as_scale(tmp_path, measured):
    path = tmp_path / "lr.ome.tif"
    write_volume(path, measured.data, measured.voxel_size)
    reader = get_reader(str(path))
    ((data, meta, kind),) = reader(str(path))
    assert kind == "image" and data.shape == (8, 48, 48) and meta["scale"] == (32.0, 8.0, 8.0)
    h5 = tmp_path / "two.h5"
    write_volume(f"{h5}:a", measured.data, measured.voxel_size)
    import h5py

    with h5py.File(h5, "a") as f:
        f.create_dataset("b", data=measured.data)
    assert len(get_reader(str(h5))(str(h5))) == 2  # one layer per dataset
    assert get_reader(str(tmp_path / "notes.txt")) is None
    pyramid = tmp_path / "p.ome.zarr"
    write_volume(pyramid, measured.data, measured.voxel_size, levels=2)
    ((levels, meta, _),) = get_reader(str(pyramid))(str(pyramid))
    assert meta["multiscale"] and meta["scale"] == (32.0, 8.0, 8.0)  # a lazy pyramid, coarsest shown zoomed out
    assert [level.shape for level in levels] == [(8, 48, 48), (4, 24, 24)]


def test_writer_keeps_the_scale_as_voxel_size(tmp_path, measured):
    out = tmp_path / "w.ome.zarr"
    write_image(str(out), measured.data, {"scale": (32.0, 8.0, 8.0), "metadata": {"unit": "nm"}})
    back = read_volume(out)
    assert back.voxel_size == (32.0, 8.0, 8.0) and back.unit == "nm"


def _widget(viewer, measured, cls):
    viewer.add_image(measured.data, name="lr", scale=measured.voxel_size, metadata={"unit": "nm"})
    widget = cls(viewer)
    widget.preset, widget.device.value, widget.budget.value = "tiny", "cpu", "quick"
    return widget


@needs_display
def test_restore_widget_adds_the_isotropic_result(make_napari_viewer, qtbot, measured):
    viewer = make_napari_viewer()
    widget = _widget(viewer, measured, RestoreWidget)
    assert widget.image.value == "lr" and widget.factor.value == pytest.approx(4.0)  # from the layer scale
    widget.method.value = "lateral"
    widget.uncertainty.value = True
    widget.start()
    qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=180_000)
    assert "done" in widget.status.value, widget.status.value
    result = viewer.layers["lr (lateral)"]
    assert result.data.shape == (32, 48, 48) and tuple(result.scale) == pytest.approx((8.0, 8.0, 8.0))
    assert viewer.layers["lr (lateral) uncertainty"].data.shape == (32, 48, 48)


@needs_display
def test_restore_widget_offers_a_registered_method_and_runs_it(make_napari_viewer, qtbot, measured):
    from test_methods import BOX

    from axialsr.methods import register, unregister

    register(BOX)
    try:
        viewer = make_napari_viewer()
        widget = _widget(viewer, measured, RestoreWidget)
        assert "box" in widget.method.choices
        widget.method.value = "box"
        assert not widget.uncertainty.enabled  # the toy method gives none
        widget.start()
        qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=60_000)
        assert viewer.layers["lr (box)"].data.shape == (32, 48, 48), widget.status.value
    finally:
        unregister("box")


@needs_display
def test_cancel_stops_the_run_and_adds_nothing(make_napari_viewer, qtbot, measured):
    viewer = make_napari_viewer()
    widget = _widget(viewer, measured, RestoreWidget)
    widget.method.value = "inr"
    widget.budget.value = "thorough"  # 3000 iterations: long enough to cancel
    widget.start()
    qtbot.waitUntil(lambda: widget._state is not None, timeout=60_000)
    widget.cancel()
    qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=60_000)
    assert widget.status.value.startswith("cancelled") and len(viewer.layers) == 1
    assert widget._state[1] < widget._state[2]  # it stopped before the end


@needs_display
def test_validate_widget_fills_its_table(make_napari_viewer, qtbot, measured):
    viewer = make_napari_viewer()
    widget = _widget(viewer, measured, ValidateWidget)
    widget.METHODS = ("linear", "cubic", "lateral")
    widget.start()
    qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=180_000)
    assert widget.status.value.startswith("best:"), widget.status.value
    assert sorted(widget.table.value["data"][i][0] for i in range(3)) == ["cubic", "lateral", "linear"]


@needs_display
def test_screenshot_of_the_widget_over_a_restored_volume(make_napari_viewer, qtbot, tmp_path):
    """The README's picture: the widget docked beside an XZ plane of a restored volume. With
    AXIALSR_UPDATE_SCREENSHOT=1 it uses the small prior and replaces docs/napari_widget.png (how the
    committed picture was made); otherwise a tiny prior, and the picture stays in a temporary folder."""
    update = os.environ.get("AXIALSR_UPDATE_SCREENSHOT") == "1"
    truth = api.synth("em", (64, 128, 128), seed=0)
    lr = api.simulate_acquisition(truth, api.Acquisition(4))
    viewer = make_napari_viewer()
    viewer.window._qt_window.resize(1400, 800)
    viewer.add_image(lr.data, name="measured (x4)", scale=lr.voxel_size)
    widget = RestoreWidget(viewer)
    widget.preset, widget.device.value, widget.budget.value = ("small" if update else "tiny"), "cpu", "quick"
    viewer.window.add_dock_widget(widget, name="Axial super-resolution")
    widget.start()
    qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=600_000)
    assert "done" in widget.status.value, widget.status.value
    viewer.layers["measured (x4)"].visible = False
    viewer.dims.order = (1, 0, 2)  # an XZ plane: z runs down
    viewer.reset_view()
    image = viewer.screenshot(canvas_only=False, flash=False)
    assert image.shape[0] > 400 and image[..., :3].std() > 10  # a picture, not a blank window
    from skimage.io import imsave

    out = SCREENSHOT if update else tmp_path / SCREENSHOT.name
    out.parent.mkdir(exist_ok=True)
    imsave(out, image, check_contrast=False)
    assert out.stat().st_size > 20_000


@needs_display
def test_the_widgets_bad_sections_field_reaches_the_acquisition(make_napari_viewer, measured):
    import warnings

    from axialsr.evaluation.synthetic import knock_out_sections

    viewer = make_napari_viewer()
    damaged = api.Volume(knock_out_sections(measured.data, {3: "blank"}), measured.voxel_size, measured.unit)
    widget = _widget(viewer, damaged, RestoreWidget)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert widget.acquisition(damaged).missing == (3,)  # found
    assert "section 3 looks missing" in str(caught[0].message)
    widget.bad_sections.value = "2, 5"
    assert widget.acquisition(damaged).missing == (2, 5)  # named
    widget.bad_sections.value = "none"
    assert widget.acquisition(damaged).missing == ()
    widget.bad_sections.value = "40"
    widget.start()  # a bad choice is said in the status line, nothing runs
    assert "outside the stack" in widget.status.value and widget.run_button.enabled


def test_a_plugin_config_gets_fields_in_the_restore_widget(make_napari_viewer, measured):
    """The widget's settings are generated from the configs the selected method reads: a registered toy
    method's own config shows as a field, and what is typed there reaches the run's settings."""
    from test_methods import BOX

    from axialsr.frontends.napari._widget import run_config, settings_from
    from axialsr.methods import register, unregister

    register(BOX)
    try:
        widget = _widget(make_napari_viewer(), measured, RestoreWidget)
        widget.method.value = "lateral"
        assert {w.name for w in widget.settings} == {"lateral.planes", "lateral.flips"}
        widget.method.value = "box"
        (width,) = widget.settings
        assert width.name == "box.width" and width.value == "3"
        width.value = "7"
        settings = settings_from(widget.settings, "box")
        assert settings["box"].width == 7
        config = run_config("box", "default", "tiny", settings=settings)
        assert config.restore.methods["box"].width == 7
        width.value = "wide"
        with pytest.raises(api.AxialSRError, match="width must be a number"):
            settings_from(widget.settings, "box")
    finally:
        unregister("box")
