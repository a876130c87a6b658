"""The API group and the names kubeline gives labels and annotations: one home, so the controller, the SDK's
client and the pods agree. Label and annotation keys are the ones users filter on (`kubectl get -l`)."""

from __future__ import annotations

from typing import Final, Literal

GROUP = "kubeline.dev"
VERSION = "v1alpha1"
#: GROUP/VERSION, written out so that the models can declare it as the one value their apiVersion takes.
ApiVersion = Literal["kubeline.dev/v1alpha1"]
API_VERSION: Final[ApiVersion] = "kubeline.dev/v1alpha1"

# labels: selectable
RUN_LABEL = f"{GROUP}/run"
TASK_LABEL = f"{GROUP}/task"
PIPELINE_LABEL = f"{GROUP}/pipeline"
EXPERIMENT_LABEL = f"{GROUP}/experiment"
RECURRING_RUN_LABEL = f"{GROUP}/recurring-run"
RETRY_OF_LABEL = f"{GROUP}/retry-of"

# annotations: read back by kubeline, or shown to people
STEP_ANNOTATION = f"{GROUP}/step"
ATTEMPT_ANNOTATION = f"{GROUP}/attempt"
CACHE_KEY_ANNOTATION = f"{GROUP}/cache-key"
CACHE_ANNOTATION = f"{GROUP}/cache"
DISPLAY_NAME_ANNOTATION = f"{GROUP}/display-name"
DESCRIPTION_ANNOTATION = f"{GROUP}/description"
IMPORTED_FROM_ANNOTATION = f"{GROUP}/imported-from"
SCHEDULED_TIME_ANNOTATION = f"{GROUP}/scheduled-time"
