"""The ``s2edit`` command line: a thin layer over ``stylegan2_core`` and ``projector``."""
