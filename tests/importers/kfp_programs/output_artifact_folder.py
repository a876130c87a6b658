"""KFP v1: a ContainerOp whose output_artifact_paths entry is a folder, beside a file output nobody reads."""

from kfp import dsl


@dsl.pipeline(name="Output artifact folder")
def output_artifact_folder_pipeline(message: str = "hello"):
    dsl.ContainerOp(
        name="write-files",
        image="library/bash:4.4.23",
        command=["sh", "-c"],
        arguments=['echo "$0" > /tmp/msg.txt; mkdir -p /tmp/dir/sub; echo x > /tmp/dir/sub/a', message],
        file_outputs={"msg": "/tmp/msg.txt"},
        output_artifact_paths={"folder": "/tmp/dir"},
    )
