"""openai_usage_async: an asyncio client for the OpenAI organization Usage and Costs API.

The bundled emulator lives in :mod:`openai_usage_async.emulator`.
"""

from ._version import __version__ as __version__

__all__ = ("__version__",)
