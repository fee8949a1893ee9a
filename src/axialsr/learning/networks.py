"""The networks of the priors: diffusers' `UNet2DModel` for the diffusion kinds, and `LateralUNet`, the
CARE-style regressor (see `axialsr.learning.priors` for why a plain UNet), with the padding their sizes need."""

from __future__ import annotations

import torch


class LateralUNet(torch.nn.Module):
    """CARE-style residual UNet for one-channel images: per level two convolutions (`kernel`, same
    padding) with ReLU, 2x2 max-pooling down, nearest upsampling and a 1x1 projection up, skip
    connections by concatenation; the output is added to the input. Image sides must be multiples of
    2 ** (len(channels) - 1).

    With `slab` > 0 (rows per measured slab, the factor), the network also sees where each row lies in its
    slab, as two more input channels (cosine and sine of the phase 2 pi (row + 1/2) / slab, rows counted
    from the image's first row, which must be a slab boundary): a convolution cannot otherwise tell a slab's
    boundary from its middle, except from the image itself.
    """

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128), kernel: int = 3, slab: float = 0.0) -> None:
        super().__init__()
        nn = torch.nn
        self.slab = float(slab)

        def block(c_in: int, c_out: int) -> torch.nn.Module:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2),
                nn.ReLU(inplace=True),
                nn.Conv2d(c_out, c_out, kernel, padding=kernel // 2),
                nn.ReLU(inplace=True),
            )

        self.down = nn.ModuleList()
        width = 3 if self.slab > 0 else 1
        for c in channels[:-1]:
            self.down.append(block(width, c))
            width = c
        self.middle = block(width, channels[-1])
        width = channels[-1]
        self.project = nn.ModuleList()
        self.up = nn.ModuleList()
        for c in reversed(channels[:-1]):
            self.project.append(nn.Conv2d(width, c, 1))
            self.up.append(block(2 * c, c))
            width = c
        self.out = nn.Conv2d(width, 1, 1)

    def slab_phase(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2, H, W): cosine and sine of each row's phase in its slab."""
        rows = torch.arange(x.shape[-2], device=x.device, dtype=torch.float32)
        angle = (2 * torch.pi / self.slab) * (rows + 0.5)
        phase = torch.stack([angle.cos(), angle.sin()])[None, :, :, None].to(x.dtype)
        return phase.expand(x.shape[0], 2, x.shape[-2], x.shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = torch.cat([x, self.slab_phase(x)], 1) if self.slab > 0 else x
        for down in self.down:
            h = down(h)
            skips.append(h)
            h = torch.nn.functional.max_pool2d(h, 2)
        h = self.middle(h)
        for project, up in zip(self.project, self.up, strict=True):
            h = project(torch.nn.functional.interpolate(h, scale_factor=2, mode="nearest"))
            h = up(torch.cat([h, skips.pop()], 1))
        return x + self.out(h)


def make_unet(unet_kwargs: dict, patch: int, in_channels: int = 1, kind: str = "diffusion") -> torch.nn.Module:
    """The network of a prior: a `LateralUNet` for the lateral kind (kwargs `channels`, `kernel`; weights
    channels-last), else a diffusers UNet2DModel with one output channel (lists in `unet_kwargs` become
    tuples)."""
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in unet_kwargs.items()}
    if kind == "lateral":
        # channels-last weights: oneDNN's fast convolution layout on CPUs (1.4x per fp32 step, measured)
        return LateralUNet(**kwargs).to(memory_format=torch.channels_last)
    from diffusers import UNet2DModel

    return UNet2DModel(sample_size=patch, in_channels=in_channels, out_channels=1, **kwargs)


def make_scheduler(timesteps: int, beta_schedule: str):
    """The DDPM noise schedule (diffusers DDPMScheduler, epsilon prediction)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=timesteps, beta_schedule=beta_schedule, prediction_type="epsilon")


def size_multiple(meta: dict) -> int:
    """Image sides must be multiples of this for the UNet (2 ** (levels - 1))."""
    unet = meta["unet"]
    return 2 ** (len(unet.get("block_out_channels") or unet["channels"]) - 1)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the last two axes at their end (reflect, or replicate where too short) to multiples of
    `multiple`; returns the padded tensor and the original (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)
