"""Pure protocol logic: values in, values or exceptions out; no I/O, no clock, no event loop.

Nothing under ``_sansio`` may import aiohttp, asyncio or anyio (``tests/test_public_api.py``
checks), so all of it is testable without sockets or a loop.
"""
