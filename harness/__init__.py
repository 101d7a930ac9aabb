"""The real processes the tests and the benchmarks start: the emulator, redis-server, the token
service, a scripted browser for the sign-in flow, the client wheel.

Imported as a package from the repository root (pytest's `pythonpath`, `python -m bench.<name>`);
never shipped: the collection's build_ignore and the wheel leave it out.
"""
