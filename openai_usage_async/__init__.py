"""openai_usage_async: an asyncio client for the OpenAI organization Usage and Costs API.

::

    from openai_usage_async import AsyncUsageClient

    async with AsyncUsageClient() as client:          # key from OPENAI_ADMIN_KEY
        async for bucket in client.usage.completions.iter(start_time=t0, end_time=t1):
            ...

The bundled emulator of the API lives in :mod:`openai_usage_async.emulator`; the
exceptions in :mod:`openai_usage_async.errors`.
"""

from ._blocking import UsageClient as UsageClient
from ._client import AsyncUsageClient as AsyncUsageClient
from ._client import ClientStatistics as ClientStatistics
from ._fanout import BucketIterator as BucketIterator
from ._fanout import PageIterator as PageIterator
from ._limiter import LimiterStatistics as LimiterStatistics
from ._organization import Organization as Organization
from ._resources import Endpoint as Endpoint
from ._resources import Usage as Usage
from ._version import __version__ as __version__
from .arrow import to_arrow as to_arrow
from .errors import APIConnectionError as APIConnectionError
from .errors import APIError as APIError
from .errors import APIResponseValidationError as APIResponseValidationError
from .errors import APIStatusError as APIStatusError
from .errors import APITimeoutError as APITimeoutError
from .errors import AuthenticationError as AuthenticationError
from .errors import BadRequestError as BadRequestError
from .errors import ConflictError as ConflictError
from .errors import InternalServerError as InternalServerError
from .errors import NotFoundError as NotFoundError
from .errors import PermissionDeniedError as PermissionDeniedError
from .errors import RateLimitError as RateLimitError
from .errors import SpendLimitExceededError as SpendLimitExceededError
from .errors import UnprocessableEntityError as UnprocessableEntityError
from .models import AudioSpeechesResult as AudioSpeechesResult
from .models import AudioTranscriptionsResult as AudioTranscriptionsResult
from .models import CodeInterpreterSessionsResult as CodeInterpreterSessionsResult
from .models import CompletionsResult as CompletionsResult
from .models import CostAmount as CostAmount
from .models import CostsResult as CostsResult
from .models import DecisionsResult as DecisionsResult
from .models import Directory as Directory
from .models import EmbeddingsResult as EmbeddingsResult
from .models import FileSearchesResult as FileSearchesResult
from .models import ImagesResult as ImagesResult
from .models import ModerationsResult as ModerationsResult
from .models import OrganizationUser as OrganizationUser
from .models import Project as Project
from .models import ProjectApiKey as ProjectApiKey
from .models import ProjectServiceAccount as ProjectServiceAccount
from .models import SpendAlert as SpendAlert
from .models import SpendLimit as SpendLimit
from .models import UnknownResult as UnknownResult
from .models import UsageBucket as UsageBucket
from .models import UsagePage as UsagePage
from .models import VectorStoresResult as VectorStoresResult
from .models import WebSearchesResult as WebSearchesResult
from .models import to_rows as to_rows

__all__ = (
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncUsageClient",
    "AudioSpeechesResult",
    "AudioTranscriptionsResult",
    "AuthenticationError",
    "BadRequestError",
    "BucketIterator",
    "ClientStatistics",
    "CodeInterpreterSessionsResult",
    "CompletionsResult",
    "ConflictError",
    "CostAmount",
    "CostsResult",
    "DecisionsResult",
    "Directory",
    "EmbeddingsResult",
    "Endpoint",
    "FileSearchesResult",
    "ImagesResult",
    "InternalServerError",
    "LimiterStatistics",
    "ModerationsResult",
    "NotFoundError",
    "Organization",
    "OrganizationUser",
    "PageIterator",
    "PermissionDeniedError",
    "Project",
    "ProjectApiKey",
    "ProjectServiceAccount",
    "RateLimitError",
    "SpendAlert",
    "SpendLimit",
    "SpendLimitExceededError",
    "UnknownResult",
    "UnprocessableEntityError",
    "Usage",
    "UsageBucket",
    "UsageClient",
    "UsagePage",
    "VectorStoresResult",
    "WebSearchesResult",
    "__version__",
    "to_arrow",
    "to_rows",
)
