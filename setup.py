"""Only the compiled part of gridbot's build; everything else is in pyproject.toml.

nlu/_speedups.c holds the inner loops of message parsing. It is optional: without a C
compiler gridbot installs anyway and parses with the same functions written in Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("nlu._speedups", ["nlu/_speedups.c"], optional=True,
                  extra_compile_args=["-O2"]),
    ],
)
