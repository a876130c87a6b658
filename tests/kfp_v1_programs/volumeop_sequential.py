"""KFP v1 sample "VolumeOp Sequential": three steps share one PVC, each mounting the volume the step
before it returned (so each waits for the one before), the last reading both files."""

from kfp import dsl


@dsl.pipeline(name="VolumeOp Sequential", description="The second example of the design doc.")
def volume_op_sequential():
    vop = dsl.VolumeOp(
        name="mypvc",
        resource_name="newpvc",
        size="10Gi",
        modes=dsl.VOLUME_MODE_RWO,
    )

    step1 = dsl.ContainerOp(
        name="step1",
        image="library/bash:4.4.23",
        command=["sh", "-c"],
        arguments=["echo 1|tee /data/file1"],
        pvolumes={"/data": vop.volume},
    )

    step2 = dsl.ContainerOp(
        name="step2",
        image="library/bash:4.4.23",
        command=["sh", "-c"],
        arguments=["cp /data/file1 /data/file2"],
        pvolumes={"/data": step1.pvolume},
    )

    step3 = dsl.ContainerOp(
        name="step3",
        image="library/bash:4.4.23",
        command=["cat", "/mnt/file1", "/mnt/file2"],
        pvolumes={"/mnt": step2.pvolume},
    )

    dsl.ContainerOp(
        name="claim-name",
        image="library/bash:4.4.23",
        command=["sh", "-c"],
        arguments=[f"echo {vop.outputs['name']} {vop.outputs['size']} | tee /tmp/claim.txt"],
        file_outputs={"claim": "/tmp/claim.txt"},
    ).after(step3)
