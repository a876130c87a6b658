"""`kfp.aws` for kubeline: use_aws_secret, with KFP 1.8's name and arguments."""

from __future__ import annotations

from collections.abc import Callable

from kubeline.sdk.dsl import ContainerOp


def use_aws_secret(
    secret_name: str = "aws-secret",
    aws_access_key_id_name: str = "AWS_ACCESS_KEY_ID",
    aws_secret_access_key_name: str = "AWS_SECRET_ACCESS_KEY",
    aws_region: str | None = None,
) -> Callable[[ContainerOp], ContainerOp]:
    """Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from keys of Secret ``secret_name`` (and AWS_REGION)."""

    def _use_aws_secret(task: ContainerOp) -> ContainerOp:
        for variable, key in (
            ("AWS_ACCESS_KEY_ID", aws_access_key_id_name),
            ("AWS_SECRET_ACCESS_KEY", aws_secret_access_key_name),
        ):
            task.add_env_variable({"name": variable, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}})
        if aws_region:
            task.add_env_variable({"name": "AWS_REGION", "value": aws_region})
        return task

    return _use_aws_secret
