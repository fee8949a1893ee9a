"""The layers a person meets, each a thin layer over `axialsr.api`: the command line (options generated
from the configs), the HTML report, figures and tables, the demo, and the napari plugin."""
