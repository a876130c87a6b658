"""KFP v1's "Parallel pipeline" sample: a display name with a space and capitals, and steps that `tee $1`
their output path."""

from kfp import dsl


def echo_to_file_op(text):
    return dsl.ContainerOp(
        name="Echo - To file",
        image="library/bash:4.4.23",
        command=["sh", "-c"],
        arguments=['echo "$0" | tee $1', text, "/tmp/results.txt"],
        file_outputs={"data": "/tmp/results.txt"},
    )


def echo2_op(text1, text2):
    return dsl.ContainerOp(
        name="echo",
        image="library/bash:4.4.23",
        command=["sh", "-c"],
        arguments=['echo "Text 1: $0"; echo "Text 2: $1"', text1, text2],
    )


@dsl.pipeline(
    name="Parallel pipeline",
    description="Download two messages in parallel and prints the concatenated result.",
)
def download_and_join(text1="Hello", text2="World"):
    """Download two messages in parallel and print the concatenated result."""
    download1_task = echo_to_file_op(text1)
    download2_task = echo_to_file_op(text2)
    echo2_op(download1_task.output, download2_task.output)
