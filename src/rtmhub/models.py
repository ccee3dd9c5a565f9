"""Imports every table so metadata is complete (Alembic, tests)."""
from rtmhub.domain.access.models import (  # noqa: F401
    AdminAccount,
    ApiToken,
    SetPasswordLink,
    SignInFailure,
    WebSession,
)
from rtmhub.domain.audit.models import AuditEvent  # noqa: F401
from rtmhub.domain.billing.models import BillingReport, BillingReportChunk  # noqa: F401
from rtmhub.domain.customers.models import Customer, CustomerPackage, MeetingSite  # noqa: F401
from rtmhub.domain.directory.models import DirectoryGroup, DirectoryGroupMember  # noqa: F401
from rtmhub.domain.directory.sync_models import (  # noqa: F401
    DirectoryAssignment,
    DirectorySync,
    GroupMapping,
    SyncEvent,
)
from rtmhub.domain.locations.models import Location  # noqa: F401
from rtmhub.domain.partners.models import OnboardingTemplate, Partner  # noqa: F401
from rtmhub.domain.tasks.models import Task, TaskFileChunk, TaskRow  # noqa: F401,E402
from rtmhub.domain.usage.models import AllocationInterval, PackageInterval  # noqa: F401,E402
from rtmhub.domain.users.models import User  # noqa: F401
