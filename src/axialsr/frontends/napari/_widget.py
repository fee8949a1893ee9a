"""napari widgets: restore the axial resolution of an image layer, and validate methods on it.

The work runs in a napari worker thread. Every long loop of axialsr reports its steps to a per-thread hook
(`api.step_hook`); the widget's hook records the progress, which a timer shows in the
progress bar, and raises `CancelledError` when Cancel was pressed, so a cancelled run stops at the next
step and adds nothing. The result is added as a new layer at the isotropic scale (and the uncertainty as
another, for the methods that give one).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    Table,
)

from axialsr import api
from axialsr.frontends.options import setting_fields, text_of, value_of
from axialsr.methods import settings_sections
from axialsr.methods.inr import ReconstructionConfig
from axialsr.settings import PRESETS, PriorConfig, RestoreConfig, Runtime, ValidationConfig

BUDGETS = {"quick": 0.25, "default": 1.0, "thorough": 2.0}  # x the preset's training steps and INR iterations


def run_config(
    method: str, budget: str, preset: str, *, uncertainty: bool = False, settings: dict | None = None
) -> api.RunConfig:
    """The RunConfig of a widget run: the method with its settings sections (`settings`: key -> config;
    absent ones: defaults), its priors' training and the INR iterations scaled by the budget (the preset's
    training steps, for the machine's preset: `small` on a CPU, `base` on a GPU)."""
    scale = BUDGETS[budget]
    steps = PRESETS[preset]["steps"]
    sections = dict(settings or {})
    recon = sections.get("recon") or ReconstructionConfig()
    sections["recon"] = replace(recon, iters=max(1, int(recon.iters * scale)))
    restore = RestoreConfig(uncertainty=uncertainty and api.get_method(method).uncertainty, methods=sections)
    return api.RunConfig(
        method=method,
        lateral_prior=PriorConfig(kind="lateral", preset=preset, steps=max(1, int(steps["lateral"] * scale))),
        diffusion_prior=PriorConfig(kind="conditional", preset=preset, steps=max(1, int(steps["conditional"] * scale))),
        restore=restore,
    )


class _Worker(Container):
    """Shared parts: the image picker, its factor (from the layer scale), budget, device, Run/Cancel, the
    progress bar and the status line."""

    def __init__(self, napari_viewer, title: str) -> None:
        from qtpy.QtCore import QTimer

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.preset: str | None = None  # None: small on a CPU, base on a GPU (tests set 'tiny')
        self.image = ComboBox(label="image", choices=self._image_names)
        self.factor = FloatSpinBox(label="factor (dz/dx)", min=1.0, max=1000.0, step=0.1, value=1.0)
        # 'auto' finds blank, saturated and duplicated sections; 'none'; or indices '14,27'
        self.bad_sections = LineEdit(label="bad sections", value="auto")
        self.budget = ComboBox(label="budget", choices=list(BUDGETS), value="default")
        self.device = ComboBox(label="device", choices=["auto", "cpu", "cuda"], value="auto")
        self.run_button = PushButton(text=title)
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", min=0, max=100, value=0)
        self.status = Label(label="status", value="")
        self.worker = None
        self._cancel = False
        self._state: tuple[str, int, int] | None = None
        self._timer = QTimer()
        self._timer.setInterval(200)
        self._timer.timeout.connect(self._show_progress)
        self.image.changed.connect(self._factor_from_scale)
        self.run_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self.cancel)
        napari_viewer.layers.events.inserted.connect(self._refresh)
        napari_viewer.layers.events.removed.connect(self._refresh)

    def acquisition(self, volume: api.Volume) -> api.Acquisition:
        """The layer's acquisition: the factor, and the bad sections as the field says (found ones are
        named in a warning, which napari shows)."""
        return api.acquisition_for(volume, float(self.factor.value), bad_sections=self.bad_sections.value)

    def _image_names(self, _widget=None) -> list[str]:
        from napari.layers import Image

        return [layer.name for layer in self.viewer.layers if isinstance(layer, Image) and layer.data.ndim == 3]

    def _refresh(self, _event=None) -> None:
        self.image.reset_choices()
        self._factor_from_scale()

    def _factor_from_scale(self, _value=None) -> None:
        layer = self.layer()
        if layer is not None:
            dz, _, dx = (float(v) for v in layer.scale[-3:])
            self.factor.value = max(1.0, dz / dx) if dx > 0 else 1.0

    def layer(self):
        name = self.image.value
        return self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401 (LayerList has no get)

    def volume(self) -> api.Volume:
        layer = self.layer()
        if layer is None:
            raise ValueError("no 3D image layer selected")
        unit = (layer.metadata or {}).get("unit", "nm")
        return api.Volume(np.asarray(layer.data), tuple(float(v) for v in layer.scale[-3:]), unit)

    def runtime(self) -> Runtime:
        return Runtime(device=self.device.value, progress=False)

    def machine_preset(self) -> str:
        """The prior preset: the widget's (tests set 'tiny'), else small on a CPU and base on a GPU."""
        return self.preset or api.default_preset(self.device.value)

    def _hook(self, stage: str, done: int, total: int) -> None:
        self._state = (stage, done, total)
        if self._cancel:
            raise api.CancelledError("cancelled")

    def _show_progress(self) -> None:
        if self._state is not None:
            stage, done, total = self._state
            self.progress.value = int(100 * done / max(1, total))
            self.status.value = f"{stage}: {done}/{total}"

    def start(self, _value=None) -> None:
        from napari.qt.threading import create_worker

        try:
            job = self.job()
        except Exception as exc:  # a bad choice in the widget: say it in the status line
            self.status.value = f"error: {exc}"
            return
        self._cancel = False
        self._state = None
        self.progress.value = 0
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        self.status.value = "starting"
        self.worker = create_worker(self._work, job, _start_thread=False, _ignore_errors=True)
        # connected first, so that no progress tick lands between the work's end and its message
        self.worker.returned.connect(self._stop_progress)
        self.worker.errored.connect(self._stop_progress)
        self.worker.returned.connect(self.finish)
        self.worker.errored.connect(self._failed)
        self.worker.finished.connect(self._idle)
        self._timer.start()
        self.worker.start()

    def _work(self, job):
        with api.step_hook(self._hook):
            return job()

    def cancel(self, _value=None) -> None:
        self._cancel = True
        self.status.value = "cancelling at the next step"

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, api.CancelledError):
            self.status.value = "cancelled: nothing was added"
        else:
            self.status.value = f"error: {exc}"

    def _stop_progress(self, _value=None) -> None:
        self._timer.stop()

    def _idle(self) -> None:
        self._timer.stop()
        self.run_button.enabled = True
        self.cancel_button.enabled = False


def settings_widgets(method: str) -> list:
    """One field per setting of the settings sections `method` reads (built-in and plug-in methods alike,
    from their registered config dataclasses): a check box for a switch, a text field for the others,
    named 'KEY.FIELD', labelled with the field's name and its help as tooltip."""
    out = []
    for key in api.get_method(method).settings:
        for name, annotation, default, help_text in setting_fields(settings_sections()[key].cls):
            label = name.replace("_", " ")
            if annotation is bool:
                widget = CheckBox(name=f"{key}.{name}", text=label, value=default, tooltip=help_text)
            else:
                widget = LineEdit(name=f"{key}.{name}", label=label, value=text_of(default), tooltip=help_text)
            out.append(widget)
    return out


def settings_from(widgets, method: str) -> dict:
    """The settings sections (key -> config) of `method` from the fields of `settings_widgets`."""
    values: dict[str, dict] = {key: {} for key in api.get_method(method).settings}
    hints = {}
    for key in values:
        hints[key] = {name: annotation for name, annotation, *_ in setting_fields(settings_sections()[key].cls)}
    for widget in widgets:
        key, name = widget.name.split(".", 1)
        raw = widget.value
        values[key][name] = raw if isinstance(raw, bool) else value_of(hints[key][name], raw, name)
    return {key: settings_sections()[key].cls(**given) for key, given in values.items()}


class RestoreWidget(_Worker):
    """ "Axial super-resolution": pick an image layer, the factor (from its scale), a method (default: the
    best of the benchmark), a budget and a device; Run adds the isotropic result as a new layer."""

    def __init__(self, napari_viewer) -> None:
        super().__init__(napari_viewer, "Run")
        self.method = ComboBox(label="method", choices=list(api.method_names()), value=api.DEFAULT_METHOD)
        self.uncertainty = CheckBox(text="add an uncertainty layer", value=False)
        # the selected method's settings, generated from the configs it reads
        self.settings = Container(name="settings", labels=True)
        self.extend(
            [
                self.image,
                self.factor,
                self.bad_sections,
                self.method,
                self.budget,
                self.device,
                self.uncertainty,
                self.settings,
                self.run_button,
                self.cancel_button,
                self.progress,
                self.status,
            ]
        )
        self.method.changed.connect(self._method_changed)
        self._method_changed()
        self._refresh()

    def _method_changed(self, _value=None) -> None:
        self.uncertainty.enabled = api.get_method(self.method.value).uncertainty
        del self.settings[:]
        self.settings.extend(settings_widgets(self.method.value))

    def job(self):
        volume = self.volume()
        acquisition = self.acquisition(volume)
        method = self.method.value
        config = run_config(
            method,
            self.budget.value,
            self.machine_preset(),
            uncertainty=self.uncertainty.value,
            settings=settings_from(self.settings, method),
        )
        name = f"{self.image.value} ({self.method.value})"
        runtime = self.runtime()
        return lambda: (name, api.run(volume, config=config, acquisition=acquisition, runtime=runtime))

    def finish(self, value) -> None:
        name, result = value
        out = result.volume
        scale = out.voxel_size or (1.0, 1.0, 1.0)
        self.viewer.add_image(out.data, name=name, scale=scale, metadata={"unit": out.unit})
        if result.restoration.uncertainty is not None:
            self.viewer.add_image(
                result.restoration.uncertainty,
                name=f"{name} uncertainty",
                scale=scale,
                colormap="magma",
                visible=False,
                metadata={"unit": out.unit},
            )
        self.progress.value = 100
        self.status.value = f"done in {result.restoration.seconds:.0f} s (after training): added '{name}'"


class ValidateWidget(_Worker):
    """ "Validate methods": scores methods on the layer without ground truth (`axialsr validate`, lateral
    scheme), after training the lateral prior they need, and shows the table."""

    METHODS = ValidationConfig().methods  # what `axialsr validate` compares: the interpolations and `run`'s method

    def __init__(self, napari_viewer) -> None:
        super().__init__(napari_viewer, "Validate")
        self.table = Table(value={"method": [], "PSNR dB": [], "SSIM": [], "seconds": []})
        self.note = Label(value="")
        self.extend(
            [
                self.image,
                self.factor,
                self.bad_sections,
                self.budget,
                self.device,
                self.run_button,
                self.cancel_button,
                self.progress,
                self.status,
                self.table,
                self.note,
            ]
        )
        self._refresh()

    def job(self):
        volume = self.volume()
        acquisition = self.acquisition(volume)
        config = run_config("lateral", self.budget.value, self.machine_preset())
        runtime = self.runtime()

        def work():
            (lateral_cfg,) = config.prior_configs()
            prior = api.train_prior(volume, config=lateral_cfg, acquisition=acquisition, runtime=runtime)
            validation = ValidationConfig(methods=self.METHODS, restore=config.restore)
            return api.validate(volume, acquisition=acquisition, priors=prior, config=validation, runtime=runtime)

        return work

    def finish(self, result) -> None:
        rows = sorted(result.rows, key=lambda r: r["psnr"], reverse=True)
        self.table.value = {
            "method": [r["method"] for r in rows],
            "PSNR dB": [round(r["psnr"], 2) for r in rows],
            "SSIM": [round(r["ssim"], 3) for r in rows],
            "seconds": [round(r["seconds"], 1) for r in rows],
        }
        self.note.value = result.note
        self.progress.value = 100
        self.status.value = f"best: {rows[0]['method']}"
