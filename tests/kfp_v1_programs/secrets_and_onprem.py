"""KFP v1's helper modules: kfp.gcp.use_gcp_secret, kfp.aws.use_aws_secret, kfp.onprem.use_k8s_secret and
kfp.onprem.mount_pvc, applied to tasks as the KFP docs show (task.apply(...) and a pipeline-wide transformer)."""

import kfp.aws
import kfp.gcp
import kfp.onprem
from kfp import dsl
from kfp.components import create_component_from_func


def list_credentials() -> str:
    import os

    names = ["GOOGLE_APPLICATION_CREDENTIALS", "AWS_ACCESS_KEY_ID", "S3_SECRET"]
    return " ".join(f"{name}={'set' if os.environ.get(name) else 'unset'}" for name in names)


list_credentials_op = create_component_from_func(list_credentials)


@dsl.pipeline(name="secrets-and-onprem")
def secrets_and_onprem(claim: str = "shared-data"):
    gcp = list_credentials_op().apply(kfp.gcp.use_gcp_secret("user-gcp-sa"))
    gcp.set_display_name("gcp")

    aws = list_credentials_op().apply(kfp.aws.use_aws_secret("aws-secret", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    aws.set_display_name("aws")

    onprem = list_credentials_op()
    onprem.apply(kfp.onprem.use_k8s_secret(secret_name="s3-secret", k8s_secret_key_to_env={"secret_key": "S3_SECRET"}))
    onprem.apply(kfp.onprem.mount_pvc(pvc_name=claim, volume_name="shared", volume_mount_path="/mnt/shared"))
    onprem.set_display_name("onprem")

    dsl.get_pipeline_conf().add_op_transformer(kfp.onprem.add_default_resource_spec(memory_limit="512Mi", cpu_limit="1"))
