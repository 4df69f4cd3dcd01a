"""The data model, named after Camtrap DP where it has a name.

Station = `locationID`, Image = `media`, Sighting = `observation`. All times are stored in UTC;
what a camera wrote is kept as text beside the corrected value, because camera clocks drift and a
correction may be revised later.

Each area's tables live in a module of this package; they are all named here, so that
`from tracker.models import X` finds any of them and importing the package maps them all.
"""

from __future__ import annotations

from tracker.models.accounts import (  # noqa: F401
    ApiToken,
    AuditLog,
    LoginThrottle,
    User,
)
from tracker.models.base import (  # noqa: F401
    BOX_CATEGORIES,
    BOX_FLANKS,
    FLANKS,
    LIFE_STAGES,
    LOCATION_SOURCES,
    NAMING_CONVENTION,
    ROLES,
    SEXES,
    SPECIES_KINDS,
    Base,
    UTCDateTime,
    utcnow,
)
from tracker.models.detections import (  # noqa: F401
    PHOTO_ID_CHOICES,
    Annotation,
    DetectionResult,
    DetectionRun,
    EmptyOverride,
    PatternFeatures,
    PhotoIdDecision,
)
from tracker.models.fieldwork import (  # noqa: F401
    Camera,
    Deployment,
    DeploymentOutage,
    Station,
)
from tracker.models.images import (  # noqa: F401
    IMAGE_STATUSES,
    DataVersion,
    Image,
    ImageCount,
)
from tracker.models.jobs import (  # noqa: F401
    JOB_STATES,
    OUTCOMES,
    Job,
    Upload,
    UploadFile,
)
from tracker.models.sightings import (  # noqa: F401
    LEOPARD,
    SEED_SPECIES,
    Individual,
    IndividualCode,
    Sighting,
    SightingEvent,
    SightingEventDirty,
    Species,
    individual_reference_image,
    sighting_image,
)
