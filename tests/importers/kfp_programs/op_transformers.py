"""Op transformers of kfp.gcp, kfp.aws and kfp.onprem."""

from kfp import dsl, gcp, aws, onprem

ARGUMENTS = {}


@dsl.pipeline(name="transformers")
def transformers_pipeline():
    op = dsl.ContainerOp(name="step", image="alpine", command=["ls"])
    op.apply(gcp.use_gcp_secret("user-gcp-sa"))
    op.apply(aws.use_aws_secret("aws-secret", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    op.apply(onprem.mount_pvc("my-claim", "local-storage", "/mnt"))
    op.apply(onprem.use_k8s_secret(secret_name="s", k8s_secret_key_to_env={"password": "PASSWORD"}))
