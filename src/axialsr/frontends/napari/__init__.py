"""napari plugin (npe2): a reader and a writer that keep the voxel size, the "Axial super-resolution"
widget (any method of the registry, in a worker thread, with progress and Cancel) and the "Validate
methods" widget. Installed with `pip install "axialsr[napari]"`; napari finds it through the
`napari.manifest` entry point (napari.yaml)."""
