"""The folder `portkit trace` puts first on a traced program's PYTHONPATH: its `torch_npu` package
is the CPU stand-in for the real plugin (see torch_npu/__init__.py). Nothing imports this package;
it exists so the stand-in ships inside portkit (pyproject.toml lists it)."""
