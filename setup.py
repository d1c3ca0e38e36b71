"""The one compiled part: argon2's allocation callbacks (idp/security/_argon2_area.c). Optional: without a C
compiler the install goes on, and idp.security.argon2_area falls back to argon2-cffi's verify."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("idp.security._argon2_area", ["idp/security/_argon2_area.c"], optional=True)])
