"""KFP v1: raw ContainerOps passing files: an output_artifact_paths folder, a file output read as a file through
dsl.InputArgumentPath in the arguments, and through artifact_argument_paths at the fixed path the program reads."""

from kfp import dsl


@dsl.pipeline(name="ContainerOp artifacts")
def container_op_artifacts_pipeline(message: str = "hello"):
    write = dsl.ContainerOp(
        name="write",
        image="library/bash:4.4.23",
        command=["sh", "-c"],
        arguments=['echo "$0" > /tmp/msg.txt; mkdir -p /tmp/dir/sub; echo x > /tmp/dir/sub/a', message],
        file_outputs={"msg": "/tmp/msg.txt"},
        output_artifact_paths={"folder": "/tmp/dir"},
    )
    dsl.ContainerOp(
        name="shout",
        image="library/bash:4.4.23",
        command=["sh", "-c", 'tr a-z A-Z < "$0" > /tmp/out.txt'],
        arguments=[dsl.InputArgumentPath(write.outputs["msg"])],
        file_outputs={"out": "/tmp/out.txt"},
    )
    dsl.ContainerOp(
        name="prefix",
        image="library/bash:4.4.23",
        command=["sh", "-c", "sed s/^/got-/ /tmp/in/msg.txt > /tmp/files.txt"],
        artifact_argument_paths=[dsl.InputArgumentPath(write.outputs["msg"], input="message", path="/tmp/in/msg.txt")],
        file_outputs={"prefixed": "/tmp/files.txt"},
    )
