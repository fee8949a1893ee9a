"""The measurement side, in numpy (and torch where a method differentiates through it): the acquisition
model and its projection onto the measurements, interpolation along z, bad sections, intensity
normalisation, tiling and noise estimates. Nothing here learns."""
